// The shared client lifecycle (src/link.ts): connect() while the peer is down replaces the
// pending retry instead of starting a second retry loop. Counted per attempt, not per time window:
// every attempt is held open by the test until it chooses to fail it.
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { Link } from '../src/link.js'
import type { Channel } from '../src/link.js'

const test = suite('link: one retry loop at a time')

interface Attempt { fail(): void }

/** A peer that never comes up: each `open` is an attempt the test fails when it wants to. */
function peer(): { attempts: Attempt[]; open: () => Promise<Channel<number>>; pending(): number; next(): Promise<void> } {
  const attempts: Attempt[] = []
  let pending = 0
  let waiter: (() => void) | null = null
  return {
    attempts,
    pending: () => pending,
    next: () => new Promise<void>((resolve) => (waiter = resolve)),
    open: () => new Promise<Channel<number>>((_, reject) => {
      pending++
      attempts.push({ fail: () => { pending--; reject(new Error('refused')) } })
      const w = waiter
      waiter = null
      w?.()
    }),
  }
}

test('ten connect() calls while down start one attempt; each failed attempt is followed by exactly one retry', async () => {
  const p = peer()
  const conn = new Link<number, number>({ name: 'nowhere', reconnectDelay: 1, maxReconnectDelay: 1, open: p.open })
  // The link's retry timers are unref'd (they never hold a process open): this one keeps the test alive.
  const alive = setInterval(() => {}, 1000)
  try {
    const first = conn.connect()
    assert.is(p.attempts.length, 1)
    p.attempts[0]?.fail()
    await first.then(() => assert.unreachable('connected'), () => {})
    // Down, with a retry pending: ten connect() calls replace it with one attempt, which they all wait for.
    const retried = p.attempts.length === 2 ? Promise.resolve() : p.next()
    const calls = Array.from({ length: 10 }, () => conn.connect())
    await retried
    // The replaced retry was due within 1 ms: had it stayed armed, it would have started an attempt by now.
    await new Promise((resolve) => setTimeout(resolve, 5))
    assert.is(p.attempts.length, 2, 'one attempt for ten calls')
    assert.is(p.pending(), 1)
    p.attempts[1]?.fail()
    const outcomes = await Promise.allSettled(calls)
    assert.ok(outcomes.every((o) => o.status === 'rejected'), 'each call learns of the failed attempt')
    // From here the one loop retries on its own: one new attempt per failure, never two at once.
    for (let i = 2; i < 22; i++) {
      if (p.attempts.length <= i) await p.next()
      // A second loop's retry (due within 1 ms, armed before this 5 ms timer) would have started by now.
      await new Promise((resolve) => setTimeout(resolve, 5))
      assert.is(p.attempts.length, i + 1, `attempt ${i + 1}: one retry per failure`)
      assert.is(p.pending(), 1, 'never two attempts at once')
      p.attempts[i]?.fail()
    }
  } finally {
    clearInterval(alive)
    conn.destroy()
  }
})

test.run()
