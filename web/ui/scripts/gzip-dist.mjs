// After `vite build`: a gzip -9 copy (FILE.gz) of every file in dist/ that it makes smaller,
// compiled into scope beside the original and sent to clients that accept gzip.
import { readdirSync, readFileSync, writeFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { gzipSync, constants } from 'node:zlib'

function walk(dir) {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name)
    return statSync(p).isDirectory() ? walk(p) : [p]
  })
}
let raw = 0
let packed = 0
for (const file of walk('dist')) {
  if (file.endsWith('.gz')) continue
  const body = readFileSync(file)
  const gz = gzipSync(body, { level: constants.Z_BEST_COMPRESSION })
  if (gz.length < body.length) {
    writeFileSync(file + '.gz', gz)
    raw += body.length
    packed += gz.length
  }
}
console.log(`gzip-dist: ${raw} bytes -> ${packed} gzipped`)
