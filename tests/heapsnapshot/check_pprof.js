// check_pprof.js - the npm package pprof-format decodes the allocation
// profiles rcgc-snapshot writes (--format pprof), and they hold what the
// JSON report says.
//
//   node check_pprof.js NODE_MODULES PROFILE.pb.gz REPORT.json
//
// REPORT.json is `rcgc-snapshot show|diff ... --format json --top 0` of the
// same snapshots.  Checked: the four sample types; the sums of
// inuse_space/inuse_objects (and alloc_*) equal the report's total size and
// count (diff: their size_diff and count_diff, NEW's minus OLD's; a sampled
// snapshot's estimates within half a unit per sample); every location id
// resolves to a location whose line names a function with a name and file;
// the report's top statistic (by line) has the same size in the profile,
// summed over the samples whose leaf frame has its file, line and function.
'use strict';
const path = require('path');
const fs = require('fs');
const zlib = require('zlib');
const [modules, profFile, reportFile] = process.argv.slice(2);
const {Profile} = require(path.join(modules, 'pprof-format'));

const report = JSON.parse(fs.readFileSync(reportFile, 'utf8'));
const prof = Profile.decode(zlib.gunzipSync(fs.readFileSync(profFile)));
const str = i => prof.stringTable.strings[Number(i)];
// int64 values come back as unsigned BigInts from pprof-format's decoder when
// negative (a diff's OLD side): protobuf's int64 is two's complement
const int64 = v => (typeof v === 'bigint' ? Number(BigInt.asIntN(64, v)) : Number(v));
const bad = [];
const types = prof.sampleType.map(t => `${str(t.type)}/${str(t.unit)}`).join(',');
if (types !== 'alloc_objects/count,alloc_space/bytes,inuse_objects/count,inuse_space/bytes')
  bad.push(`sample types ${types}`);
const locs = new Map(prof.location.map(l => [Number(l.id), l]));
const funcs = new Map(prof.function.map(f => [Number(f.id), f]));
const sums = [0, 0, 0, 0];
const byLeaf = new Map(), byLine = new Map();
// invalid UTF-8 becomes U+FFFD in both, but not as many of them
const norm = t => String(t).replace(/\uFFFD+/g, '\uFFFD');
const add = (m, k, v) => m.set(k, (m.get(k) || 0) + v);
for (const s of prof.sample) {
  s.value.forEach((v, k) => { sums[k] += int64(v); });
  const leaf = locs.get(Number(s.locationId[0]));
  for (const id of s.locationId) {
    const l = locs.get(Number(id));
    if (!l || !l.line.length) { bad.push(`location ${id} missing`); continue; }
    const f = funcs.get(Number(l.line[0].functionId));
    if (!f || !str(f.name) || !str(f.filename)) bad.push(`function of location ${id}`);
  }
  if (leaf && leaf.line.length) {
    const f = funcs.get(Number(leaf.line[0].functionId));
    const line = norm(`${str(f.filename)}:${Number(leaf.line[0].line)}`);
    add(byLeaf, `${line}:${norm(str(f.name))}`, int64(s.value[3]));
    add(byLine, line, int64(s.value[3]));
  }
}
const isDiff = report.kind === 'diff';
const wantSize = isDiff ? report.total.size_diff : report.total.size;
const wantCount = isDiff ? report.total.count_diff : report.total.count;
// a sampled snapshot's values are estimates, rounded per sample to pprof's
// integers: at most half a unit each
const slack = report.sample_bytes > 0 ? prof.sample.length / 2 : 0;
const near = (a, b) => Math.abs(a - b) <= slack;
if (!near(sums[3], wantSize) || !near(sums[1], wantSize))
  bad.push(`space ${sums[1]}/${sums[3]}, report ${wantSize}`);
if (!near(sums[2], wantCount) || !near(sums[0], wantCount))
  bad.push(`objects ${sums[0]}/${sums[2]}, report ${wantCount}`);
const top = report.statistics[0];
if (top && report.key === 'lineno') {
  // the report's statistics by line keep functions apart (two functions
  // allocating on one line are two statistics), as the profile's do
  // (a frame without a function, an unsymbolized C frame, by its line)
  const fr = top.frames[0];
  const line = norm(`${fr.filename}:${fr.lineno}`);
  const got = fr.function == null ? byLine.get(line) : byLeaf.get(`${line}:${norm(fr.function)}`);
  const want = isDiff ? top.size_diff : top.size;
  if (!near(got, want)) bad.push(`${line} ${fr.function}: profile ${got}, report ${want}`);
}
if (bad.length) {
  console.log('pprof-format disagrees with the report:\n  ' + bad.join('\n  '));
  process.exit(1);
}
console.log(`pprof-format decodes it: ${prof.sample.length} samples, ${prof.location.length} ` +
            `locations, ${prof.function.length} functions, inuse_space ${sums[3]} bytes, ` +
            `inuse_objects ${sums[2]} (the report's totals)`);
