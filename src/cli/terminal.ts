import { styleText } from 'node:util';
import type { TokenSource } from '../events/token-event.js';

/** Colour only on a terminal, and never when NO_COLOR is set (https://no-color.org). */
export function useColor(stream: NodeJS.WriteStream): boolean {
  return Boolean(stream.isTTY) && !process.env.NO_COLOR;
}

const SOURCE_STYLE: Record<TokenSource, Parameters<typeof styleText>[0]> = {
  draft: 'green',
  verifier: 'yellow',
  bonus: 'cyan',
  frontier: 'magenta',
};

export function colorBySource(text: string, source: TokenSource, color: boolean): string {
  return color && text ? styleText(SOURCE_STYLE[source], text) : text;
}

export function legend(color: boolean): string {
  return (Object.keys(SOURCE_STYLE) as TokenSource[]).map((s) => colorBySource(s, s, color)).join(' ');
}
