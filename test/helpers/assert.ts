import * as assert from 'uvu/assert'
import { PyshardError } from '../../src/index.js'

/** Awaits `p`, which must reject with a PyshardError of `code`; returns that error. */
export async function rejectsWith(p: Promise<unknown>, code: string): Promise<PyshardError> {
  let resolved = false
  try {
    await p
    resolved = true
  } catch (err) {
    assert.instance(err, PyshardError, `expected a PyshardError, got ${String(err)}`)
    assert.is((err as PyshardError).code, code, (err as Error).message)
    return err as PyshardError
  }
  assert.ok(!resolved, `expected rejection with ${code}, but it resolved`)
  throw new Error('unreachable')
}
