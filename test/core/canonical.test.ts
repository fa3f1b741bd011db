import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { fromUtf8 } from '../../src/core/bytes.ts'
import { canonicalBytes, prettyJson } from '../../src/core/manifest/canonical.ts'
import { parseStrictJson } from '../../src/core/manifest/strict-json.ts'

function canonicalOfText(text: string): string {
  const parsed = parseStrictJson(text)
  assert.ok(parsed.ok, parsed.ok ? '' : parsed.reason)
  return fromUtf8(canonicalBytes(parsed.value))!
}

describe('RFC 8785 (JCS) vectors', () => {
  it('section 3.2.2: numbers, strings and literals', () => {
    const input = `{
      "numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
      "string": "\\u20ac$\\u000F\\u000aA'\\u0042\\u0022\\u005c\\\\\\"\\/",
      "literals": [null, true, false]
    }`
    assert.equal(
      canonicalOfText(input),
      '{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}',
    )
  })

  it('section 3.2.3: member sorting by UTF-16 code units', () => {
    const input = `{
      "\\u20ac": "Euro Sign",
      "\\r": "Carriage Return",
      "\\ufb33": "Hebrew Letter Dalet With Dagesh",
      "1": "One",
      "\\ud83d\\ude00": "Emoji: Grinning Face",
      "\\u0080": "Control",
      "\\u00f6": "Latin Small Letter O With Diaeresis"
    }`
    const names = [...canonicalOfText(input).matchAll(/"([^"]*)":/g)].map((m) => m[1])
    assert.deepEqual(names, ['\\r', '1', '\u0080', '\u00f6', '\u20ac', '\u{1f600}', '\ufb33'])
  })

  it('appendix B: IEEE 754 number serialisation', () => {
    const vectors: Array<[string, string]> = [
      ['0000000000000000', '0'],
      ['8000000000000000', '0'],
      ['0000000000000001', '5e-324'],
      ['8000000000000001', '-5e-324'],
      ['7fefffffffffffff', '1.7976931348623157e+308'],
      ['ffefffffffffffff', '-1.7976931348623157e+308'],
      ['4340000000000000', '9007199254740992'],
      ['c340000000000000', '-9007199254740992'],
      ['4430000000000000', '295147905179352830000'],
      ['44b52d02c7e14af5', '9.999999999999997e+22'],
      ['44b52d02c7e14af6', '1e+23'],
      ['44b52d02c7e14af7', '1.0000000000000001e+23'],
      ['444b1ae4d6e2ef4e', '999999999999999700000'],
      ['444b1ae4d6e2ef4f', '999999999999999900000'],
      ['444b1ae4d6e2ef50', '1e+21'],
      ['3eb0c6f7a0b5ed8c', '9.999999999999997e-7'],
      ['3eb0c6f7a0b5ed8d', '0.000001'],
      ['41b3de4355555553', '333333333.3333332'],
      ['41b3de4355555554', '333333333.33333325'],
      ['41b3de4355555555', '333333333.3333333'],
      ['41b3de4355555556', '333333333.3333334'],
      ['41b3de4355555557', '333333333.33333343'],
      ['becbf647612f3696', '-0.0000033333333333333333'],
      ['43143ff3c1cb0959', '1424953923781206.2'],
    ]
    for (const [hex, expected] of vectors) {
      const n = Buffer.from(hex, 'hex').readDoubleBE(0)
      assert.equal(fromUtf8(canonicalBytes(n)), expected, hex)
    }
  })
})

describe('the file form', () => {
  it('write, read, write gives the same bytes, and the canonical bytes survive', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 5 }), (value) => {
        const text = prettyJson(value)
        const back = parseStrictJson(text)
        assert.ok(back.ok)
        assert.equal(prettyJson(back.value), text)
        assert.deepEqual(canonicalBytes(back.value), canonicalBytes(JSON.parse(text)))
      }),
      { numRuns: 300 },
    )
  })

  it('orders integer-like member names as RFC 8785 does, not as Object.keys does', () => {
    const text = prettyJson({ b: 1, 10: 2, 9: 3, a: 4 })
    assert.deepEqual(
      [...text.matchAll(/"([^"]+)":/g)].map((m) => m[1]),
      ['10', '9', 'a', 'b'],
    )
  })
})
