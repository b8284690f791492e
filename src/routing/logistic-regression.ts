/**
 * Logistic regression with soft targets: the trained router's model (docs/ARCHITECTURE.md#query-level-routing).
 *
 * Minimises mean cross-entropy against targets in [0, 1] plus (l2 / 2)·‖w‖² (the bias is not penalised) over
 * standardised features, by Newton's method with a backtracking line search. The objective is strictly convex for
 * l2 > 0, so the fit is unique and deterministic; at the dimensions a router has (≤ ~100 features, a few thousand
 * rows) it converges in a few dozen iterations and well under a second.
 */

/** How to fit. */
export interface LogisticRegressionOptions {
  /**
   * The L2 penalty λ on the weights (of standardised features; the bias is free): the objective is the mean
   * cross-entropy + λ/2·‖w‖². Larger values shrink the weights towards "every prompt alike". Defaults to `0.1`.
   */
  readonly l2?: number;
  /** The most Newton iterations. Defaults to `100`. */
  readonly maxIterations?: number;
  /** Stop once half the squared Newton decrement (the expected decrease of the objective) is below this. Defaults to `1e-12`. */
  readonly tolerance?: number;
}

export const defaultLogisticRegression = { l2: 0.1, maxIterations: 100, tolerance: 1e-12 } as const;

/** Per-feature standardisation: z = (x − mean) / std. */
export interface Standardization {
  readonly mean: readonly number[];
  /** Population standard deviation; a constant feature gets 1 (so its z is 0). */
  readonly std: readonly number[];
}

/** A fitted model: score(x) = σ(weights · z + bias) with z the standardised x. */
export interface LogisticModel {
  readonly standardize: Standardization;
  readonly weights: readonly number[];
  readonly bias: number;
}

/** A fitted model and how the fit went. */
export interface LogisticFit extends LogisticModel {
  /** Newton iterations taken. */
  readonly iterations: number;
  /** Whether the tolerance was reached within maxIterations. */
  readonly converged: boolean;
  /** The final objective: mean cross-entropy + λ/2·‖w‖². */
  readonly objective: number;
}

export function sigmoid(u: number): number {
  if (u >= 0) return 1 / (1 + Math.exp(-u));
  const e = Math.exp(u);
  return e / (1 + e);
}

/** ln(1 + e^u) without overflow. */
function softplus(u: number): number {
  return Math.max(u, 0) + Math.log1p(Math.exp(-Math.abs(u)));
}

/** The mean and population standard deviation of each column; a (near-)constant column gets std 1. */
export function standardization(rows: readonly (readonly number[])[]): Standardization {
  const first = rows[0];
  if (first === undefined) throw new RangeError('standardization needs at least one row');
  const d = first.length;
  const mean = new Array<number>(d).fill(0);
  const std = new Array<number>(d).fill(0);
  for (const row of rows) for (let j = 0; j < d; j++) mean[j]! += row[j]!;
  for (let j = 0; j < d; j++) mean[j]! /= rows.length;
  for (const row of rows)
    for (let j = 0; j < d; j++) {
      const dev = row[j]! - mean[j]!;
      std[j]! += dev * dev;
    }
  for (let j = 0; j < d; j++) {
    const s = Math.sqrt(std[j]! / rows.length);
    std[j] = s > 1e-12 * Math.max(1, Math.abs(mean[j]!)) ? s : 1;
  }
  return { mean, std };
}

/** The model's logit for a raw (unstandardised) feature vector. */
export function logit(model: LogisticModel, x: readonly number[]): number {
  const { mean, std } = model.standardize;
  if (x.length !== model.weights.length) throw new RangeError(`the model has ${model.weights.length} weights; the vector has ${x.length} entries`);
  let u = model.bias;
  for (let j = 0; j < x.length; j++) u += (model.weights[j]! * (x[j]! - mean[j]!)) / std[j]!;
  return u;
}

/** The predicted probability σ(logit) for a raw feature vector. */
export function predictProbability(model: LogisticModel, x: readonly number[]): number {
  return sigmoid(logit(model, x));
}

/**
 * Fits the model to rows `x` (raw features, all the same length) and soft targets in [0, 1]. Deterministic: the
 * same inputs give bit-identical weights.
 */
export function fitLogisticRegression(x: readonly (readonly number[])[], targets: readonly number[], options: LogisticRegressionOptions = {}): LogisticFit {
  const l2 = options.l2 ?? defaultLogisticRegression.l2;
  const maxIterations = options.maxIterations ?? defaultLogisticRegression.maxIterations;
  const tolerance = options.tolerance ?? defaultLogisticRegression.tolerance;
  const n = x.length;
  if (n === 0) throw new RangeError('cannot fit a logistic regression to no rows');
  if (targets.length !== n) throw new RangeError(`${n} rows but ${targets.length} targets`);
  if (!(l2 >= 0) || !Number.isFinite(l2)) throw new RangeError(`l2 must be a finite number ≥ 0, got ${l2}`);
  for (let i = 0; i < n; i++) {
    const t = targets[i]!;
    if (!(t >= 0 && t <= 1)) throw new RangeError(`target ${i} is ${t}; targets must lie in [0, 1]`);
  }
  const standardize = standardization(x);
  const d = standardize.mean.length;
  const p = d + 1; // the bias is the last parameter
  // The standardised design, row-major, with a trailing 1 for the bias.
  const z = new Float64Array(n * p);
  for (let i = 0; i < n; i++) {
    const row = x[i]!;
    if (row.length !== d) throw new RangeError(`row ${i} has ${row.length} features; row 0 has ${d}`);
    for (let j = 0; j < d; j++) z[i * p + j] = (row[j]! - standardize.mean[j]!) / standardize.std[j]!;
    z[i * p + d] = 1;
  }

  const theta = new Float64Array(p);
  const logits = new Float64Array(n);
  const computeLogits = (params: Float64Array, out: Float64Array): void => {
    for (let i = 0; i < n; i++) {
      let u = 0;
      const base = i * p;
      for (let j = 0; j < p; j++) u += z[base + j]! * params[j]!;
      out[i] = u;
    }
  };
  const objectiveOf = (params: Float64Array, u: Float64Array): number => {
    let loss = 0;
    for (let i = 0; i < n; i++) loss += softplus(u[i]!) - targets[i]! * u[i]!;
    let penalty = 0;
    for (let j = 0; j < d; j++) penalty += params[j]! * params[j]!;
    return loss / n + (l2 / 2) * penalty;
  };

  computeLogits(theta, logits);
  let objective = objectiveOf(theta, logits);
  const gradient = new Float64Array(p);
  const hessian = new Float64Array(p * p);
  const candidate = new Float64Array(p);
  const candidateLogits = new Float64Array(n);
  let iterations = 0;
  let converged = false;
  while (iterations < maxIterations) {
    gradient.fill(0);
    hessian.fill(0);
    for (let i = 0; i < n; i++) {
      const prob = sigmoid(logits[i]!);
      const residual = prob - targets[i]!;
      const weight = prob * (1 - prob);
      const base = i * p;
      for (let j = 0; j < p; j++) {
        const zj = z[base + j]!;
        gradient[j]! += residual * zj;
        const wz = weight * zj;
        // Lower triangle only; mirrored below.
        for (let k = 0; k <= j; k++) hessian[j * p + k]! += wz * z[base + k]!;
      }
    }
    for (let j = 0; j < p; j++) {
      gradient[j]! /= n;
      for (let k = 0; k <= j; k++) hessian[j * p + k]! /= n;
    }
    for (let j = 0; j < d; j++) {
      gradient[j]! += l2 * theta[j]!;
      hessian[j * p + j]! += l2;
    }
    for (let j = 0; j < p; j++) for (let k = 0; k < j; k++) hessian[k * p + j] = hessian[j * p + k]!;

    const step = solveSymmetricPositive(hessian, gradient, p);
    let decrement = 0; // gᵀ H⁻¹ g
    for (let j = 0; j < p; j++) decrement += gradient[j]! * step[j]!;
    if (!(decrement > 0) || decrement / 2 < tolerance) {
      converged = true;
      break;
    }
    iterations++;
    // Backtracking (Armijo) line search along the Newton direction.
    let alpha = 1;
    let accepted = false;
    for (let halvings = 0; halvings < 40; halvings++) {
      for (let j = 0; j < p; j++) candidate[j] = theta[j]! - alpha * step[j]!;
      computeLogits(candidate, candidateLogits);
      const next = objectiveOf(candidate, candidateLogits);
      if (next <= objective - 1e-4 * alpha * decrement) {
        theta.set(candidate);
        logits.set(candidateLogits);
        objective = next;
        accepted = true;
        break;
      }
      alpha /= 2;
    }
    if (!accepted) {
      // No decrease is representable any more: the optimum to machine precision.
      converged = true;
      break;
    }
  }
  return { standardize, weights: Array.from(theta.subarray(0, d)), bias: theta[d]!, iterations, converged, objective };
}

/**
 * Solves A·x = b for a symmetric positive (semi-)definite A (row-major, size m) by Cholesky, adding a small ridge
 * when A is singular to working precision (a feature the data never varies, probabilities saturated at 0 or 1).
 */
function solveSymmetricPositive(a: Float64Array, b: Float64Array, m: number): Float64Array {
  let trace = 0;
  for (let j = 0; j < m; j++) trace += a[j * m + j]!;
  const scale = Math.max(trace / m, 1e-300);
  for (let ridge = 0; ; ridge = ridge === 0 ? 1e-12 * scale : ridge * 100) {
    const l = cholesky(a, m, ridge);
    if (l !== undefined) {
      // Forward then back substitution.
      const y = new Float64Array(m);
      for (let i = 0; i < m; i++) {
        let s = b[i]!;
        for (let k = 0; k < i; k++) s -= l[i * m + k]! * y[k]!;
        y[i] = s / l[i * m + i]!;
      }
      const out = new Float64Array(m);
      for (let i = m - 1; i >= 0; i--) {
        let s = y[i]!;
        for (let k = i + 1; k < m; k++) s -= l[k * m + i]! * out[k]!;
        out[i] = s / l[i * m + i]!;
      }
      return out;
    }
    if (ridge > scale * 1e6) throw new RangeError('the Hessian is not positive definite');
  }
}

function cholesky(a: Float64Array, m: number, ridge: number): Float64Array | undefined {
  const l = new Float64Array(m * m);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j <= i; j++) {
      let s = a[i * m + j]! + (i === j ? ridge : 0);
      for (let k = 0; k < j; k++) s -= l[i * m + k]! * l[j * m + k]!;
      if (i === j) {
        if (!(s > 0)) return undefined;
        l[i * m + i] = Math.sqrt(s);
      } else {
        l[i * m + j] = s / l[j * m + j]!;
      }
    }
  }
  return l;
}
