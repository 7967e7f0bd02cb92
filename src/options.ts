/** Option checks shared by the store, the servers and the transports: one message shape everywhere. */

/**
 * `value` when it is a positive safe integer, `fallback` when it is undefined;
 * otherwise a TypeError naming the option (`options.<name> must be ...`).
 */
export function positiveInt(name: string, value: unknown, fallback: number): number
export function positiveInt(name: string, value: unknown, fallback?: number): number | undefined
export function positiveInt(name: string, value: unknown, fallback?: number): number | undefined {
  if (value === undefined) return fallback
  if (!(Number.isSafeInteger(value) && (value as number) > 0)) throw new TypeError(`options.${name} must be a positive integer, got ${String(value)}`)
  return value as number
}
