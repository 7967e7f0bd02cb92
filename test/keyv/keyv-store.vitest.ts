// keyv's own compliance suite (@keyv/test-suite) against KeyvPyshard: the store, value, namespace and
// iterator tests, over in-process shards. Run by vitest (scripts/test.mjs runs it after the uvu files).
import * as test from 'vitest'
import Keyv from 'keyv'
import keyvTestSuite, { keyvIteratorTests } from '@keyv/test-suite'
import { Pyshard } from '../../src/index.js'
import { KeyvPyshard } from '../../src/adapters/keyv.js'

const db = await Pyshard.open({ shards: 4 })
test.afterAll(() => db.close())
const store = (): KeyvPyshard => new KeyvPyshard(db)

keyvTestSuite(test, Keyv, store)
keyvIteratorTests(test, Keyv, store)
