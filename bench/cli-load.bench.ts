/**
 * pyshard write of 1,000,000 generated lines into a 2-shard `pyshard up`
 * cluster, then pyshard cat of them back, each as a real process of the built
 * CLI; lines/s and peak RSS (from /usr/bin/time -v, else /proc VmHWM polling).
 * Peers in the same run: splitting the same input with node:readline against
 * the CLI's LineSplitter, in this process.
 *
 *   node --import tsx bench/cli-load.bench.ts [lines] [runs]
 */
import { spawn, spawnSync } from 'node:child_process'
import { createReadStream, existsSync, mkdtempSync, openSync, closeSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir, cpus } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { LineSplitter } from '../cli/line-splitter.js'
import { parseLine } from '../cli/line-parser.js'
import { freePort } from '../test/helpers/ports.js'
import { median } from './lib.js'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const CLI = join(ROOT, 'dist/cli/main.js')
const LINES = Number(process.argv[2] ?? 1_000_000)
const RUNS = Number(process.argv[3] ?? 3)
const TIME = existsSync('/usr/bin/time') ? '/usr/bin/time' : null


/** Peak RSS in kB: from `time -v` output, or the VmHWM we polled. */
function vmHWM(pid: number): number {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
    return m === null ? 0 : Number(m[1])
  } catch {
    return 0
  }
}

interface ProcRun { wallMs: number; peakKb: number; code: number | null; stderr: string; stdoutLines: number }

/** Runs the CLI with stdin from `inputFile` (or nothing); counts stdout lines as a pipe reader would. */
function runCli(args: string[], inputFile: string | null): Promise<ProcRun> {
  return new Promise((resolve, reject) => {
    const stdinFd = inputFile === null ? 'ignore' : openSync(inputFile, 'r')
    const [cmd, argv] = TIME !== null ? [TIME, ['-v', process.execPath, CLI, ...args]] : [process.execPath, [CLI, ...args]]
    const started = performance.now()
    const child = spawn(cmd, argv, { stdio: [stdinFd, 'pipe', 'pipe'] })
    if (typeof stdinFd === 'number') closeSync(stdinFd)
    let stderr = ''
    let lines = 0
    let polled = 0
    child.stdout?.on('data', (d: Buffer) => {
      let i = -1
      while ((i = d.indexOf(10, i + 1)) !== -1) lines++
    })
    child.stderr?.setEncoding('utf8').on('data', (d: string) => { stderr += d })
    // Without time(1) the child is node itself: poll its high-water mark.
    const poll = TIME === null ? setInterval(() => { polled = Math.max(polled, vmHWM(child.pid as number)) }, 20) : null
    child.on('error', reject)
    child.on('close', (code) => {
      const wallMs = performance.now() - started
      if (poll !== null) clearInterval(poll)
      const m = /Maximum resident set size \(kbytes\): (\d+)/.exec(stderr)
      resolve({ wallMs, peakKb: m !== null ? Number(m[1]) : polled, code, stderr, stdoutLines: lines })
    })
  })
}

function generate(file: string, n: number): number {
  const parts: string[] = []
  let bytes = 0
  const flush = (): void => {
    const s = parts.join('')
    bytes += Buffer.byteLength(s)
    writeFileSync(file, s, { flag: 'a' })
    parts.length = 0
  }
  for (let i = 0; i < n; i++) {
    const k = `user:${i.toString(36).padStart(6, '0')}`
    const v = i % 4 === 0 ? `{"id":${i},"name":"n${i}","tags":["a","b"]}` : i % 4 === 1 ? String(i * 7) : i % 4 === 2 ? (i / 7).toFixed(4) : `value ${i} | with a bar`
    parts.push(`${k}|${v}\n`)
    if (parts.length === 50_000) flush()
  }
  flush()
  return bytes
}

async function splitReadline(file: string): Promise<number> {
  let n = 0
  const rl = createInterface({ input: createReadStream(file), crlfDelay: Infinity })
  for await (const line of rl) if (parseLine(line).ok) n++
  return n
}

async function splitChunks(file: string): Promise<number> {
  let n = 0
  const s = new LineSplitter(1 << 24, { line: (t) => { if (parseLine(t).ok) n++ }, tooLong: () => {} })
  for await (const chunk of createReadStream(file)) s.push(chunk as Buffer)
  s.end()
  return n
}


async function main(): Promise<void> {
  console.log('building (tsup)...')
  if (spawnSync('npx', ['tsup', '--silent'], { cwd: ROOT, stdio: 'inherit' }).status !== 0) throw new Error('build failed')
  const dir = mkdtempSync(join(tmpdir(), 'pyshard-cli-bench-'))
  const input = join(dir, 'lines.txt')
  const bytes = generate(input, LINES)
  console.log(`input: ${LINES} lines, ${(bytes / 1e6).toFixed(1)} MB`)

  // Peers: line splitting + parsing alone, same input, this process.
  const peer = { readline: [] as number[], splitter: [] as number[] }
  for (let r = 0; r < RUNS; r++) {
    let t = performance.now()
    const a = await splitReadline(input)
    peer.readline.push(a / ((performance.now() - t) / 1000))
    t = performance.now()
    const b = await splitChunks(input)
    peer.splitter.push(b / ((performance.now() - t) / 1000))
    if (a !== LINES || b !== LINES) throw new Error(`split counts ${a} ${b}`)
  }

  const ports = [await freePort(), await freePort()]
  const config = join(dir, 'cluster.json')
  writeFileSync(config, JSON.stringify({
    transport: 'tcp',
    shards: ports.map((port, i) => ({ name: `shard${i}`, host: '127.0.0.1', port, size: 1024 * 1024 * 1024 })),
  }))
  const bport = await freePort()
  const up = spawn(process.execPath, [CLI, 'up', '--config', config, '--port', String(bport)], { stdio: ['ignore', 'pipe', 'inherit'] })
  await new Promise<void>((resolve, reject) => {
    let out = ''
    up.stdout.setEncoding('utf8').on('data', (d: string) => { out += d; if (out.includes('ready on')) resolve() })
    up.on('exit', (code) => reject(new Error(`up exited ${code}: ${out}`)))
  })
  const b = ['-b', `127.0.0.1:${bport}`]

  const writes: ProcRun[] = []
  let upPeakKb = 0
  const cats: ProcRun[] = []
  try {
    for (let r = 0; r < RUNS; r++) {
      const index = `bench${r}`
      const w = await runCli(['write', index, '--force', ...b], input)
      if (w.code !== 0) throw new Error(`write exited ${w.code}: ${w.stderr}`)
      writes.push(w)
      const c = await runCli(['cat', index, ...b], null)
      if (c.code !== 0 || c.stdoutLines !== LINES) throw new Error(`cat exited ${c.code} with ${c.stdoutLines} lines: ${c.stderr}`)
      cats.push(c)
      const d = await runCli(['drop-index', index, ...b], null)
      if (d.code !== 0) throw new Error(d.stderr)
      console.log(`run ${r + 1}: write ${Math.round(LINES / (w.wallMs / 1000))} lines/s (${(w.peakKb / 1024).toFixed(0)} MB), ` +
        `cat ${Math.round(LINES / (c.wallMs / 1000))} lines/s (${(c.peakKb / 1024).toFixed(0)} MB)`)
    }
  } finally {
    upPeakKb = vmHWM(up.pid as number)
    up.kill('SIGINT')
    await new Promise((resolve) => up.on('exit', resolve))
    rmSync(dir, { recursive: true, force: true })
  }

  const rate = (runs: ProcRun[]): number[] => runs.map((x) => Math.round(LINES / (x.wallMs / 1000)))
  const result = {
    date: new Date().toISOString(),
    node: process.version,
    cpus: cpus().length,
    lines: LINES,
    inputBytes: bytes,
    runs: RUNS,
    rssSource: TIME !== null ? '/usr/bin/time -v' : '/proc/<pid>/status VmHWM polled every 20 ms',
    note: 'wall time of the whole CLI process (node start-up, connect, bootstrap map fetch included); cat stdout read through a pipe by the bench',
    write: { linesPerSec: median(rate(writes)), allLinesPerSec: rate(writes), peakRssMB: Math.round(Math.max(...writes.map((x) => x.peakKb)) / 1024) },
    cat: { linesPerSec: median(rate(cats)), allLinesPerSec: rate(cats), peakRssMB: Math.round(Math.max(...cats.map((x) => x.peakKb)) / 1024) },
    upPeakRssMB: Math.round(upPeakKb / 1024),
    peers: {
      readlinePlusParseLinesPerSec: Math.round(median(peer.readline)),
      lineSplitterPlusParseLinesPerSec: Math.round(median(peer.splitter)),
    },
    targets: { writeLinesPerSec: 200_000, catLinesPerSec: 200_000, catPeakRssMB: 150 },
  }
  writeFileSync(join(ROOT, 'bench/results/cli-load.json'), `${JSON.stringify(result, null, 2)}\n`)
  const fmt = (n: number): string => n.toLocaleString('en-US')
  const md = `# CLI bulk load (bench/cli-load.bench.ts)

${result.date.slice(0, 10)}, Node ${result.node}, ${result.cpus} cores. ${fmt(LINES)} generated lines (${(bytes / 1e6).toFixed(1)} MB) through the built
CLI into a 2-shard \`pyshard up\` cluster on loopback; median of ${RUNS} runs, wall time of the whole process
(start-up and connect included). Peak RSS from ${result.rssSource}.

| command | lines/s (median) | all runs | peak RSS | target |
|---|---|---|---|---|
| \`pyshard write\` | ${fmt(result.write.linesPerSec)} | ${result.write.allLinesPerSec.map(fmt).join(', ')} | ${result.write.peakRssMB} MB | >= 200,000 lines/s |
| \`pyshard cat\` | ${fmt(result.cat.linesPerSec)} | ${result.cat.allLinesPerSec.map(fmt).join(', ')} | ${result.cat.peakRssMB} MB | >= 200,000 lines/s, < 150 MB |

\`pyshard up\` (both shard servers and the bootstrap server in one process) peaked at ${result.upPeakRssMB} MB over the
whole run (${RUNS} indexes of ${fmt(LINES)} entries written one after another, each dropped after its cat; the V8 heap
keeps what it grew to).

Line splitting + parsing alone (same input, in one process, same run):

| splitter | lines/s |
|---|---|
| \`node:readline\` + parseLine | ${fmt(result.peers.readlinePlusParseLinesPerSec)} |
| chunk \`LineSplitter\` + parseLine (what \`write\` uses) | ${fmt(result.peers.lineSplitterPlusParseLinesPerSec)} |
`
  writeFileSync(join(ROOT, 'bench/results/cli-load.md'), md)
  console.log(md)
}

await main()
