// The link layer's in-flight bound and deadlines, over a channel made of plain functions:
// maxInFlight counts requests held (sent or waiting for the carrier) and refuses the excess at
// once naming itself; a request's requestTimeout starts when it is handed to the channel, so
// time spent waiting for the carrier never turns into TIMEOUT.
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { Link } from '../src/link.js'
import type { Channel, ChannelEvents } from '../src/link.js'
import { PyshardError } from '../src/index.js'

const test = suite('link: maxInFlight and send-time deadlines')

/** A channel that records what is sent and answers when told. */
function fakeChannel(): { channel: Channel<number>; sent: number[]; events: () => ChannelEvents<number>; setEvents(e: ChannelEvents<number>): void; busy: boolean[] } {
  let events: ChannelEvents<number> | null = null
  const sent: number[] = []
  const busy: boolean[] = []
  return {
    sent, busy,
    events: () => events as ChannelEvents<number>,
    setEvents: (e) => { events = e },
    channel: {
      send: (id) => { sent.push(id) },
      end: () => events?.close(),
      destroy: () => events?.close(),
      busy: (b) => { busy.push(b) },
    },
  }
}

test('maxInFlight: a request over the bound rejects SHARD_UNAVAILABLE at once naming it; room comes back as answers do', async () => {
  const fake = fakeChannel()
  const link = new Link<number, number>({
    name: 'bounded', maxInFlight: 100,
    open: (events) => { fake.setEvents(events); return Promise.resolve(fake.channel) },
  })
  try {
    await link.connect()
    const first = link.request(1, 60)
    const over = await link.request(2, 60).then(() => null, (err: unknown) => err)
    assert.instance(over, PyshardError)
    assert.is((over as PyshardError).code, 'SHARD_UNAVAILABLE')
    assert.match((over as PyshardError).message, 'maxInFlight')
    assert.is(link.refusal(40), null, 'what fits still goes')
    assert.equal(fake.busy, [true], 'the channel is told it holds work')
    fake.events().message(fake.sent[0] as number, 11)
    assert.is(await first, 11)
    assert.equal(fake.busy, [true, false], 'and told when it holds none')
    assert.is(await (async () => { const p = link.request(3, 100); fake.events().message(fake.sent[1] as number, 33); return p })(), 33)
  } finally {
    link.destroy()
  }
})

test('a request that waited for the carrier longer than requestTimeout is not TIMEOUT: its clock starts at the send', async () => {
  const fake = fakeChannel()
  let clock = 0
  let openNow: (() => void) | null = null
  const link = new Link<number, number>({
    name: 'slow-open', requestTimeout: 20, connectTimeout: 60_000, queueTimeout: 60_000, now: () => clock,
    open: (events) => new Promise((resolve) => { openNow = () => { fake.setEvents(events); resolve(fake.channel) } }),
  })
  try {
    const pending = link.request(7, 1)
    // The carrier takes "a second" (on the link's clock) and real time for any timer to fire.
    clock += 1000
    await new Promise((r) => setTimeout(r, 60))
    ;(openNow as unknown as () => void)()
    await new Promise((r) => setImmediate(r))
    assert.equal(fake.sent.length, 1, 'sent once the carrier is up')
    fake.events().message(fake.sent[0] as number, 70)
    assert.is(await pending, 70)
  } finally {
    link.destroy()
  }
})

test.run()
