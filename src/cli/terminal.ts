import { styleText } from 'node:util';
import type { TokenSource } from '../events/token-event.js';

/**
 * Colour only on a terminal that has colours (so not with `TERM=dumb` or no `TERM`), and never when
 * NO_COLOR is set (https://no-color.org).
 */
export function useColor(stream: NodeJS.WriteStream): boolean {
  if (process.env.NO_COLOR) return false;
  return Boolean(stream.isTTY) && stream.hasColors();
}

const SOURCE_STYLE: Record<TokenSource, Parameters<typeof styleText>[0]> = {
  draft: 'green',
  verifier: 'yellow',
  bonus: 'cyan',
  frontier: 'magenta',
  grammar: 'blue',
};

export function colorBySource(text: string, source: TokenSource, color: boolean): string {
  // The decision is useColor's; styleText must not second-guess it against its own stream.
  return color && text ? styleText(SOURCE_STYLE[source], text, { validateStream: false }) : text;
}

export function legend(color: boolean): string {
  return (Object.keys(SOURCE_STYLE) as TokenSource[]).map((s) => colorBySource(s, s, color)).join(' ');
}
