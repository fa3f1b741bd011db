/**
 * A strict JSON parser for untrusted documents.
 *
 * `JSON.parse` silently keeps the last of two equal member names, so two parsers can read one
 * signed document differently. This parser refuses duplicate names, lone surrogates (RFC 8785
 * cannot encode them), nesting deeper than a cap, and anything outside RFC 8259. It never throws:
 * it returns the value or a reason naming the byte offset.
 */
import { fail, ok, type Result } from '../result.ts'

/** A JSON value as produced by {@link parseStrictJson}. */
export type JsonValue =
  | null
  | boolean
  | number
  | string
  | JsonValue[]
  | { [key: string]: JsonValue }

/** Options for {@link parseStrictJson}. */
export interface StrictJsonOptions {
  /** Deepest nesting of arrays and objects accepted. @default 32 */
  maxDepth?: number
}

const NUMBER_RE = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y
const ESCAPES: Record<string, string> = {
  '"': '"',
  '\\': '\\',
  '/': '/',
  b: '\b',
  f: '\f',
  n: '\n',
  r: '\r',
  t: '\t',
}

class ParseError {
  readonly message: string
  constructor(message: string) {
    this.message = message
  }
}

/** Parses `text` as one JSON value, refusing duplicate member names and other ambiguities. */
export function parseStrictJson(text: string, options: StrictJsonOptions = {}): Result<JsonValue> {
  const maxDepth = options.maxDepth ?? 32
  let pos = 0

  const error = (what: string): ParseError => new ParseError(`${what} at offset ${pos}`)

  const skipWs = (): void => {
    while (pos < text.length) {
      const c = text.charCodeAt(pos)
      if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) pos++
      else break
    }
  }

  const parseString = (): string => {
    // Caller has checked text[pos] === '"'.
    pos++
    let out = ''
    let start = pos
    for (;;) {
      if (pos >= text.length) throw error('unterminated string')
      const c = text.charCodeAt(pos)
      if (c === 0x22) {
        out += text.slice(start, pos)
        pos++
        break
      }
      if (c < 0x20) throw error('control character in string')
      if (c === 0x5c) {
        out += text.slice(start, pos)
        const e = text[pos + 1]
        if (e === undefined) throw error('unterminated escape')
        if (e === 'u') {
          const hex = text.slice(pos + 2, pos + 6)
          if (!/^[0-9a-fA-F]{4}$/.test(hex)) throw error('bad \\u escape')
          out += String.fromCharCode(Number.parseInt(hex, 16))
          pos += 6
        } else {
          const mapped = ESCAPES[e]
          if (mapped === undefined) throw error(`bad escape \\${e}`)
          out += mapped
          pos += 2
        }
        start = pos
        continue
      }
      pos++
    }
    if (!out.isWellFormed()) throw error('lone surrogate in string')
    return out
  }

  const parseValue = (depth: number): JsonValue => {
    skipWs()
    const c = text[pos]
    if (c === '{') {
      if (depth >= maxDepth) throw error(`nesting deeper than ${maxDepth}`)
      pos++
      const obj: { [key: string]: JsonValue } = {}
      const seen = new Set<string>()
      skipWs()
      if (text[pos] === '}') {
        pos++
        return obj
      }
      for (;;) {
        skipWs()
        if (text[pos] !== '"') throw error('expected a member name')
        const key = parseString()
        if (seen.has(key)) throw error(`duplicate member name ${JSON.stringify(key)}`)
        seen.add(key)
        skipWs()
        if (text[pos] !== ':') throw error("expected ':'")
        pos++
        const value = parseValue(depth + 1)
        // defineProperty: a member named "__proto__" stays an ordinary own property.
        Object.defineProperty(obj, key, {
          value,
          enumerable: true,
          writable: true,
          configurable: true,
        })
        skipWs()
        if (text[pos] === ',') {
          pos++
          continue
        }
        if (text[pos] === '}') {
          pos++
          return obj
        }
        throw error("expected ',' or '}'")
      }
    }
    if (c === '[') {
      if (depth >= maxDepth) throw error(`nesting deeper than ${maxDepth}`)
      pos++
      const arr: JsonValue[] = []
      skipWs()
      if (text[pos] === ']') {
        pos++
        return arr
      }
      for (;;) {
        arr.push(parseValue(depth + 1))
        skipWs()
        if (text[pos] === ',') {
          pos++
          continue
        }
        if (text[pos] === ']') {
          pos++
          return arr
        }
        throw error("expected ',' or ']'")
      }
    }
    if (c === '"') return parseString()
    if (text.startsWith('true', pos)) {
      pos += 4
      return true
    }
    if (text.startsWith('false', pos)) {
      pos += 5
      return false
    }
    if (text.startsWith('null', pos)) {
      pos += 4
      return null
    }
    NUMBER_RE.lastIndex = pos
    const m = NUMBER_RE.exec(text)
    if (m !== null && m[0].length > 0) {
      pos += m[0].length
      const n = Number(m[0])
      if (!Number.isFinite(n)) throw error('number out of range')
      // -0 (from "-0" or an underflow such as "-5e-999") is 0: RFC 8785 writes both as 0, so a
      // value that kept the sign would change when re-encoded (found by test/core/fuzz.test.ts).
      return n === 0 ? 0 : n
    }
    throw error(
      c === undefined ? 'unexpected end of input' : `unexpected character ${JSON.stringify(c)}`,
    )
  }

  try {
    const value = parseValue(0)
    skipWs()
    if (pos !== text.length) throw error('trailing data after the document')
    return ok(value)
  } catch (e) {
    if (e instanceof ParseError) return fail('malformed', `malformed: ${e.message}`)
    // Only a stack overflow could land here; depth is capped, but stay total.
    return fail('malformed', 'malformed: document could not be parsed')
  }
}
