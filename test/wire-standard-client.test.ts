// A client written from docs/wire.md alone, as one in another language would be: a standard
// MessagePack codec without records or any other extension, raw frames over a socket.
// Regression: the server decoded a standard map into a JavaScript Map (HELLO `{ v: 1 }` was
// refused "unsupported protocol version undefined") and answered in msgpackr records.
import net from 'node:net'
import { Packr } from 'msgpackr'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { hashKey } from '../src/index.js'
import { ShardServer } from '../transports/tcp/servers.js'

/** A standard MessagePack codec: maps are maps (read as plain objects), no records, no extensions. */
const standard = new Packr({ useRecords: false, mapsAsObjects: true, moreTypes: false })

const KIND = { HELLO: 1, HELLO_OK: 2, BATCH: 3, RESULT: 4, ERROR: 5 }

/** A frame: u32 BE length of what follows, u8 kind, u32 BE id, then the MessagePack body. */
function frame(kind: number, id: number, body: unknown): Buffer {
  const payload = standard.pack(body)
  const head = Buffer.alloc(9)
  head.writeUInt32BE(payload.length + 5, 0)
  head[4] = kind
  head.writeUInt32BE(id, 5)
  return Buffer.concat([head, payload])
}

interface Answer { kind: number; id: number; body: unknown; raw: Buffer }

class RawClient {
  readonly socket: net.Socket
  #buf = Buffer.alloc(0)
  #waiting: ((a: Answer) => void)[] = []
  #answers: Answer[] = []
  #nextId = 1

  constructor(port: number) {
    this.socket = net.connect({ host: '127.0.0.1', port })
    this.socket.on('data', (chunk: Buffer) => {
      this.#buf = Buffer.concat([this.#buf, chunk])
      while (this.#buf.length >= 4 && this.#buf.length >= 4 + this.#buf.readUInt32BE(0)) {
        const len = this.#buf.readUInt32BE(0)
        const raw = this.#buf.subarray(9, 4 + len)
        const a: Answer = { kind: this.#buf[4] as number, id: this.#buf.readUInt32BE(5), body: standard.unpack(raw), raw: Buffer.from(raw) }
        this.#buf = this.#buf.subarray(4 + len)
        const w = this.#waiting.shift()
        if (w) w(a)
        else this.#answers.push(a)
      }
    })
  }

  next(): Promise<Answer> {
    const a = this.#answers.shift()
    return a ? Promise.resolve(a) : new Promise((resolve) => this.#waiting.push(resolve))
  }

  async hello(body: unknown): Promise<Answer> {
    this.socket.write(frame(KIND.HELLO, 0, body))
    return this.next()
  }

  /** One BATCH; returns the RESULT's array of responses. */
  async batch(requests: unknown[]): Promise<Record<string, unknown>[]> {
    const id = this.#nextId++
    this.socket.write(frame(KIND.BATCH, id, requests))
    const a = await this.next()
    assert.is(a.kind, KIND.RESULT)
    assert.is(a.id, id)
    return a.body as Record<string, unknown>[]
  }
}

/** Every object in `v` is a plain object or an array: nothing a standard decoder could not give. */
function assertPlain(v: unknown, where = 'answer'): void {
  if (v === null || typeof v !== 'object') return
  if (Array.isArray(v)) {
    v.forEach((x, i) => assertPlain(x, `${where}[${i}]`))
    return
  }
  assert.ok(!(v instanceof Map), `${where} is a Map`)
  assert.is(Object.getPrototypeOf(v), Object.prototype, `${where} is a plain object`)
  for (const [k, x] of Object.entries(v)) assertPlain(x, `${where}.${k}`)
}

/** No byte of the body is an extension or a record definition (0xc7-0xc9, 0xd4-0xd8 as a type byte). */
function assertNoExtensions(raw: Buffer): void {
  // Decoding with a codec that refuses unknown extensions is the check: msgpackr reads ext as
  // opaque values, so look at the decoded tree instead of the bytes.
  const strict = new Packr({ useRecords: false, mapsAsObjects: true, moreTypes: false })
  assertPlain(strict.unpack(raw))
}

const test = suite<{ server: ShardServer; port: number; clients: RawClient[] }>('wire: a standard MessagePack client speaks the documented protocol', {} as never)

test.before(async (ctx) => {
  // Half the hash range, so a key in the other half answers MOVED.
  ctx.server = new ShardServer({ name: 'left', start: 0, end: 0.5 })
  ctx.port = (await ctx.server.listen()).port
  ctx.clients = []
})

test.after.each((ctx) => {
  for (const c of ctx.clients) c.socket.destroy()
  ctx.clients = []
})

test.after(async (ctx) => {
  await ctx.server?.destroy()
})

function keyIn(index: string, from: number, to: number, prefix = 'k'): { key: string; hash: number } {
  for (let i = 0; ; i++) {
    const key = `${prefix}${i}`
    const hash = hashKey(index, key)
    if (hash >= from && hash < to) return { key, hash }
  }
}

test('HELLO as a standard map is accepted; HELLO_OK states the role, maxFrameSize and no shapes', async (ctx) => {
  const c = new RawClient(ctx.port)
  ctx.clients.push(c)
  const ok = await c.hello({ v: 1 })
  assert.is(ok.kind, KIND.HELLO_OK)
  assert.equal(ok.body, { v: 1, role: 'shard', maxFrameSize: 64 * 1024 * 1024, shapes: false })
  assertNoExtensions(ok.raw)
})

test('createIndex, write, read, pop, a scan page, an error and MOVED: every answer is plain objects and arrays', async (ctx) => {
  const c = new RawClient(ctx.port)
  ctx.clients.push(c)
  assert.is((await c.hello({ v: 1 })).kind, KIND.HELLO_OK)

  assert.equal(await c.batch([{ op: 'createIndex', index: 'users' }]), [{ ok: true, value: true }])

  const ada = keyIn('users', 0, 0.5)
  const bob = keyIn('users', 0, 0.5, 'nobody')
  const doc = { name: 'Ada', born: 1815, tags: ['math', 'engines'], nested: { deep: [1, 2.5, null, true] } }
  const written = await c.batch([{ op: 'write', index: 'users', key: ada.key, hash: ada.hash, doc }])
  assert.is(written[0]?.ok, true)
  assert.type(written[0]?.value, 'number') // bytes accounted

  const [read, absent] = await c.batch([
    { op: 'read', index: 'users', key: ada.key, hash: ada.hash },
    { op: 'read', index: 'users', key: bob.key, hash: bob.hash },
  ])
  assert.equal(read, { ok: true, value: doc })
  assert.equal(absent, { ok: true }) // absent: no "value"

  const scan = await c.batch([{ op: 'scan', index: 'users', cursor: 0, count: 10, values: true }])
  assert.equal(scan, [{ ok: true, value: { cursor: 0, keys: [ada.key], records: [doc] } }])

  const popped = await c.batch([{ op: 'pop', index: 'users', key: ada.key, hash: ada.hash }])
  assert.equal(popped, [{ ok: true, value: doc }])
  assert.equal(await c.batch([{ op: 'read', index: 'users', key: ada.key, hash: ada.hash }]), [{ ok: true }])

  const [missing] = await c.batch([{ op: 'read', index: 'nope', key: 'x', hash: 0.1 }])
  assert.is(missing?.ok, false)
  assert.is(missing?.code, 'INDEX_NOT_FOUND')
  assert.type(missing?.message, 'string')

  const far = keyIn('users', 0.5, 1)
  const [moved] = await c.batch([{ op: 'write', index: 'users', key: far.key, hash: far.hash, doc: 1 }])
  assert.is(moved?.ok, false)
  assert.is(moved?.code, 'MOVED')
  assert.type(moved?.epoch, 'number')

  for (const answers of [written, scan, popped, [missing, moved]]) assertPlain(answers)
})

test('an ERROR frame: a frame kind the server does not take closes the connection with code and message', async (ctx) => {
  const c = new RawClient(ctx.port)
  ctx.clients.push(c)
  await c.hello({ v: 1 })
  c.socket.write(frame(9, 0, null))
  const err = await c.next()
  assert.is(err.kind, KIND.ERROR)
  assert.is((err.body as { code: string }).code, 'BAD_REQUEST')
  assertPlain(err.body)
})

test('a HELLO with another version is refused with an ERROR frame naming both versions', async (ctx) => {
  const c = new RawClient(ctx.port)
  ctx.clients.push(c)
  const err = await c.hello({ v: 99 })
  assert.is(err.kind, KIND.ERROR)
  assert.match((err.body as { message: string }).message, /99.*1/)
})

test.run()
