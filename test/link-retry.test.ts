// The shared client lifecycle (src/connection.ts): connect() while the peer is down replaces the
// pending retry instead of starting a second retry loop.
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { Link } from '../src/link.js'

const test = suite('connection: one retry loop at a time')

test('ten connect() calls while down: attempts keep the pace of a single loop', async () => {
  let attempts = 0
  const conn = new Link<number, number>({
    name: 'nowhere',
    reconnectDelay: 40,
    maxReconnectDelay: 40,
    open: () => {
      attempts++
      return Promise.reject(new Error('refused'))
    },
  })
  try {
    await conn.connect().catch(() => {})
    for (let i = 0; i < 10; i++) await conn.connect().catch(() => {})
    const before = attempts
    await new Promise((resolve) => setTimeout(resolve, 400))
    // One loop retries every 20 to 40 ms: at most ~20 attempts in 400 ms; eleven loops make over 100.
    const during = attempts - before
    assert.ok(during > 0, 'it keeps retrying')
    assert.ok(during <= 25, `${during} attempts in 400 ms`)
  } finally {
    conn.destroy()
  }
})

test.run()
