// Server memory is bounded against peers that send most of a big frame and stop.
// Regression: ten peers each sending most of a 60 MB frame grew the server from 53 MB to
// 647 MB (each connection could hold up to maxFrameSize, with up to 10,000 connections).
// The server runs in a child process so that only its memory is measured.
import { fork } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import net from 'node:net'
import { fileURLToPath } from 'node:url'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { FrameKind, encodeFrame } from '../transports/tcp/codec.js'

const MB = 1024 * 1024
const CAP = 100 * MB
const PEERS = 10
const FRAME = 60 * MB
/** What each peer sends of its frame: the header and most of the body. */
const PARTIAL = FRAME - MB

interface Measure { port?: number; rss: number; arrayBuffers: number; incomplete: number; connections: number }

const test = suite<{ child: ChildProcess; peers: net.Socket[] }>('tcp: bytes held for incomplete frames are capped across connections', {} as never)

test.after((ctx) => {
  for (const p of ctx.peers ?? []) p.destroy()
  ctx.child?.disconnect()
})

function nextMessage(child: ChildProcess): Promise<Measure> {
  return new Promise((resolve, reject) => {
    child.once('message', (m) => resolve(m as Measure))
    child.once('exit', (code) => reject(new Error(`server child exited with ${code}`)))
  })
}

/** A peer: HELLO, then the first PARTIAL bytes of a FRAME-byte frame. Resolves with the error code the server closed it with, or null while it stays open. */
function peer(port: number, body: Buffer, sockets: net.Socket[]): Promise<string | null> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port })
    sockets.push(s)
    let buf = Buffer.alloc(0)
    let helloOk = false
    s.on('error', () => {})
    s.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk])
      while (buf.length >= 4 && buf.length >= 4 + buf.readUInt32BE(0)) {
        const kind = buf[4]
        const answer = buf.subarray(9, 4 + buf.readUInt32BE(0))
        buf = buf.subarray(4 + buf.readUInt32BE(0))
        if (kind === FrameKind.HELLO_OK && !helloOk) {
          helloOk = true
          const head = Buffer.alloc(9)
          head.writeUInt32BE(FRAME - 4, 0)
          head[4] = FrameKind.BATCH
          head.writeUInt32BE(1, 5)
          s.write(head)
          // Everything written: the server holds it all (the wait is in the child) or closes us.
          s.write(body.subarray(0, PARTIAL - 9), () => resolve(null))
        } else if (kind === FrameKind.ERROR) {
          const code = /SHARD_UNAVAILABLE/.test(answer.toString('latin1')) ? 'SHARD_UNAVAILABLE' : answer.toString('latin1')
          s.destroy()
          resolve(code)
        }
      }
    })
    s.write(encodeFrame(FrameKind.HELLO, 0, { v: 1 }))
  })
}

test('ten peers each send most of a 60 MB frame: one is kept, nine are closed, the server grows by less than the cap', async (ctx) => {
  ctx.peers = []
  const script = fileURLToPath(new URL('./fixtures/incomplete-frames-server.ts', import.meta.url))
  ctx.child = fork(script, [String(CAP)], { execArgv: ['--expose-gc', '--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  const before = await nextMessage(ctx.child)
  const body = Buffer.alloc(PARTIAL, 0x61)
  const outcomes = await Promise.all(Array.from({ length: PEERS }, () => peer(before.port as number, body, ctx.peers)))
  const closed = outcomes.filter((o) => o !== null)
  // Peers refused after their bytes went out learn it from the ERROR frame they still read.
  const settled = nextMessage(ctx.child)
  ctx.child.send({ settle: PARTIAL })
  const after = await settled
  assert.ok(after.incomplete <= CAP, `held ${after.incomplete} bytes, cap ${CAP}`)
  assert.is(after.connections, 1, 'one peer fits under the cap')
  assert.is(after.incomplete, PARTIAL)
  assert.ok(closed.every((c) => c === 'SHARD_UNAVAILABLE'), String(closed))
  const grew = after.arrayBuffers - before.arrayBuffers
  assert.ok(grew < CAP, `buffers grew by ${(grew / MB).toFixed(0)} MB, cap ${CAP / MB} MB (rss grew by ${((after.rss - before.rss) / MB).toFixed(0)} MB)`)
  console.log(`  held ${(after.incomplete / MB).toFixed(1)} MB; buffers +${(grew / MB).toFixed(1)} MB; rss +${((after.rss - before.rss) / MB).toFixed(1)} MB (cap ${CAP / MB} MB)`)
})

test.run()
