// No worker outlives its store: a process that opened a worker store ends by
// itself, after close() and (since idle workers hold no reference) even without it.
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { spawn } from 'node:child_process'

const test = suite('worker lifecycle')

function runChild(mode: string): Promise<{ code: number | null; out: string; killed: boolean }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'test/helpers/worker-exit.ts', mode], { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    child.stdout.on('data', (d) => { out += d })
    child.stderr.on('data', (d) => { out += d })
    let killed = false
    // A child still running after this long has a worker keeping it alive.
    const timer = setTimeout(() => { killed = true; child.kill('SIGKILL') }, 30_000)
    child.on('close', (code) => {
      clearTimeout(timer)
      resolve({ code, out, killed })
    })
  })
}

test('a process that opened and closed a worker store exits by itself', async () => {
  const r = await runChild('closed')
  assert.not.ok(r.killed, `the child had to be killed: ${r.out}`)
  assert.is(r.code, 0, r.out)
  assert.match(r.out, 'done {"count":')
})

test('a process that leaves an idle worker store open still exits by itself', async () => {
  const r = await runChild('open')
  assert.not.ok(r.killed, `the child had to be killed: ${r.out}`)
  assert.is(r.code, 0, r.out)
  assert.match(r.out, 'done {"count":')
})

test.run()
