/**
 * The shapes extension on vs off, same run, same server: is it worth its code?
 * Two clients of one 1-shard cluster (shard server + bootstrap server in a child
 * process, as in tcp.bench.ts): one asks for shapes in its HELLO (the default), the
 * other speaks standard MessagePack only. 16-byte keys, 100-byte values, 100k keys.
 *
 * - sequential read latency p50 / p99: 5 alternating rounds of 10,000, median round
 * - read and write throughput with 100 in flight, each case right before its peer
 *
 *   node --import tsx bench/wire.bench.ts [--time S]
 */
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { parseArgs } from 'node:util'
import { fileURLToPath } from 'node:url'
import type { Json } from '../src/index.js'
import { loadPyshard, measuredFrom, runSuite, workload, writeReport } from './lib.js'

const { values: flags } = parseArgs({ options: { time: { type: 'string' } } })
const { Pyshard } = await loadPyshard()

function firstLine(child: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    let buf = ''
    child.stdout?.on('data', (d: Buffer) => {
      buf += d.toString()
      const nl = buf.indexOf('\n')
      if (nl >= 0) resolve(buf.slice(0, nl).trim())
    })
    child.once('exit', (code) => reject(new Error(`child exited (${code}) before it was ready`)))
  })
}

async function latency(n: number, op: () => Promise<unknown>): Promise<{ p50: number; p99: number }> {
  for (let i = 0; i < 2000; i++) await op()
  const t = new Float64Array(n)
  for (let i = 0; i < n; i++) {
    const s = process.hrtime.bigint()
    await op()
    t[i] = Number(process.hrtime.bigint() - s) / 1000
  }
  t.sort()
  return { p50: t[Math.floor(n * 0.5)] as number, p99: t[Math.floor(n * 0.99)] as number }
}

const MAX_TIME = Number(flags.time ?? process.env.BENCH_TIME ?? 2)
const N = 100_000
const IN_FLIGHT = 100
const PER_CHAIN = 10
const { keys, value } = workload(N)
let cursor = 0
const next = (): string => {
  cursor = cursor + 7919 >= N ? (cursor + 7919) % N : cursor + 7919
  return keys[cursor] as string
}
const serve = fileURLToPath(new URL('./tcp.bench.ts', import.meta.url))
const child = spawn(process.execPath, ['--import', 'tsx', serve, '--serve'], { stdio: ['pipe', 'pipe', 'inherit'] })
let sink = 0
try {
  const target = await firstLine(child)
  const on = await Pyshard.connect(target)
  const off = await Pyshard.connect({ bootstrap: target, transportOptions: { shapes: false } })
  await on.createIndex('bench')
  for (let i = 0; i < N; i += 1000) await on.writeMany('bench', keys.slice(i, i + 1000).map((k): [string, Json] => [k, value]))

  const rounds: Record<'on' | 'off', { p50: number; p99: number }[]> = { on: [], off: [] }
  for (let round = 0; round < 5; round++) {
    rounds.on.push(await latency(10_000, async () => { if ((await on.read('bench', next())) !== null) sink++ }))
    rounds.off.push(await latency(10_000, async () => { if ((await off.read('bench', next())) !== null) sink++ }))
  }
  const med = (rs: { p50: number; p99: number }[]): { p50: number; p99: number } => {
    const by = (k: 'p50' | 'p99'): number => rs.map((r) => r[k]).sort((a, b) => a - b)[rs.length >> 1] as number
    return { p50: by('p50'), p99: by('p99') }
  }
  const latOn = med(rounds.on)
  const latOff = med(rounds.off)
  console.log('latency µs', rounds)

  const inflight = (op: () => Promise<unknown>) => async (): Promise<void> => {
    await Promise.all(Array.from({ length: IN_FLIGHT }, async () => {
      for (let j = 0; j < PER_CHAIN; j++) await op()
    }))
  }
  const ops = IN_FLIGHT * PER_CHAIN
  const cases = [
    { name: 'read, 100 in flight, shapes on', opsPerCall: ops, fn: inflight(async () => { if ((await on.read('bench', next())) !== null) sink++ }) },
    { name: 'read, 100 in flight, shapes off', opsPerCall: ops, fn: inflight(async () => { if ((await off.read('bench', next())) !== null) sink++ }) },
    { name: 'write, 100 in flight, shapes on', opsPerCall: ops, fn: inflight(async () => { sink += (await on.write('bench', next(), value)).size }) },
    { name: 'write, 100 in flight, shapes off', opsPerCall: ops, fn: inflight(async () => { sink += (await off.write('bench', next(), value)).size }) },
  ]
  const results = await runSuite('wire', 'shapes extension on vs off (same run, same server)', cases, { maxTime: MAX_TIME, minSamples: 5 })
  const rate = (name: string): number => results.find((r) => r.name === name)?.opsPerSec ?? Number.NaN
  const readGain = rate('read, 100 in flight, shapes on') / rate('read, 100 in flight, shapes off')
  const writeGain = rate('write, 100 in flight, shapes on') / rate('write, 100 in flight, shapes off')
  const p50Gain = latOff.p50 / latOn.p50
  const rows: (string | number)[][] = results.map((r) => [r.name, Math.round(r.opsPerSec), r.margin])
  rows.push(['sequential read p50 / p99 (µs), shapes on', `${latOn.p50.toFixed(1)} / ${latOn.p99.toFixed(1)}`, '-'])
  rows.push(['sequential read p50 / p99 (µs), shapes off', `${latOff.p50.toFixed(1)} / ${latOff.p99.toFixed(1)}`, '-'])
  const notes = [
    `shapes on / off: read 100 in flight **${readGain.toFixed(2)}x**, write 100 in flight **${writeGain.toFixed(2)}x**, sequential p50 **${p50Gain.toFixed(2)}x** (off p50 / on p50); the rule: the extension stays only with at least 1.10x on one of them`,
    `server in a child process (shard server + bootstrap server), both clients in this process against it; ${measuredFrom()}; latency: median of 5 alternating rounds of 10,000 reads`,
  ]
  writeReport('wire', 'Shapes extension on vs off (same run)', ['case', 'ops/s', '± %'], rows, notes, { readGain, writeGain, p50Gain, latency: { on: latOn, off: latOff } })
  console.log(notes.join('\n'))
  await on.close()
  await off.close()
} finally {
  child.stdin?.end()
}
if (sink === 42) console.log('')
