import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { parseStrictJson } from '../../src/core/manifest/strict-json.ts'

describe('strict JSON', () => {
  it('agrees with JSON.parse on every valid document', () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.constantFrom(0, 2), (value, indent) => {
        const text = JSON.stringify(value, null, indent)
        const r = parseStrictJson(text)
        assert.ok(r.ok, r.ok ? '' : r.reason)
        assert.deepEqual(r.value, JSON.parse(text))
      }),
      { numRuns: 500 },
    )
  })

  it('refuses duplicate member names anywhere, with the name and offset', () => {
    const r = parseStrictJson('{"a":{"version":"1.0.0","version":"9.9.9"}}')
    assert.equal(r.ok, false)
    assert.match(!r.ok ? r.reason : '', /duplicate member name "version" at offset \d+/)
    // Escaped spelling of the same name is the same name.
    assert.equal(parseStrictJson('{"ab":1,"a\\u0062":2}').ok, false)
  })

  it('refuses lone surrogates, deep nesting, trailing data, and non-JSON numbers', () => {
    for (const text of [
      '"\\ud800"',
      `${'['.repeat(40)}${']'.repeat(40)}`,
      '{} {}',
      '[01]',
      '[1.]',
      '[NaN]',
      '[1e999]',
      "{'a':1}",
      '[1,]',
      '"\u0001"',
    ]) {
      const r = parseStrictJson(text)
      assert.equal(r.ok, false, text)
      assert.match(!r.ok ? r.reason : '', /^malformed: /)
    }
  })

  it('keeps "__proto__" as an ordinary member', () => {
    const r = parseStrictJson('{"__proto__":{"polluted":true}}')
    assert.ok(r.ok)
    assert.equal(({} as Record<string, unknown>).polluted, undefined)
    assert.deepEqual(Object.keys(r.value as object), ['__proto__'])
  })

  it('never throws on arbitrary or mutated text', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string(),
          fc.jsonValue().map((v) => JSON.stringify(v)),
        ),
        fc.nat(),
        fc.string({ maxLength: 3 }),
        (text, at, insert) => {
          const i = text.length === 0 ? 0 : at % text.length
          const mutated = text.slice(0, i) + insert + text.slice(i + 1)
          const r = parseStrictJson(mutated)
          assert.equal(typeof r.ok, 'boolean')
        },
      ),
      { numRuns: 2000 },
    )
  })
})

it('reads -0 and negative underflows as 0, as RFC 8785 writes them', () => {
  for (const text of ['-0', '-0.0', '-5e-3240', '[-0]']) {
    const r = parseStrictJson(text)
    assert.ok(r.ok)
    const v = Array.isArray(r.value) ? r.value[0] : r.value
    assert.ok(Object.is(v, 0), `${text} reads as +0`)
  }
})
