// check_memlab.js - memlab loads a heap snapshot rcgc wrote and computes
// the same retained sizes as rcgc's own dominator tree.
//
//   node check_memlab.js NODE_MODULES SNAPSHOT RETAINED_JSON
//
// RETAINED_JSON is rcgc_diag_retainers_write's JSON for the same heap
// (written while the heap was unchanged, so that each item's snapshot_id is
// its node in SNAPSHOT).  Checked: memlab's retained size of every listed
// object equals rcgc's; the synthetic root retains the total (reachable
// plus the garbage node's); the node and self-size totals agree.  Exit 1
// with the differences otherwise.
'use strict';
const path = require('path');
const fs = require('fs');
const [modules, snapFile, retainedFile] = process.argv.slice(2);
const {getFullHeapFromFile} = require(path.join(modules, '@memlab/heap-analysis'));

(async () => {
  const want = JSON.parse(fs.readFileSync(retainedFile, 'utf8'));
  const heap = await getFullHeapFromFile(snapFile);
  const bad = [];
  let objects = 0, selfTotal = 0;
  heap.nodes.forEach(n => {
    if (n.type === 'object') {
      objects++;
      selfTotal += n.self_size;
    }
  });
  const expectObjects = want.reachable + want.unreachable;
  if (objects !== expectObjects)
    bad.push(`object nodes: memlab ${objects}, rcgc ${expectObjects}`);
  const expectTotal = want.total_size + want.unreachable_size;
  if (selfTotal !== expectTotal)
    bad.push(`self sizes: memlab ${selfTotal}, rcgc ${expectTotal}`);
  const root = heap.nodes.get(0);
  if (root.retainedSize !== expectTotal)
    bad.push(`root retained: memlab ${root.retainedSize}, rcgc ${expectTotal}`);
  for (const it of want.retainers) {
    const n = heap.getNodeById(it.snapshot_id);
    if (n == null) {
      bad.push(`node ${it.snapshot_id} (${it.type}) missing`);
      continue;
    }
    if (n.name !== it.type) bad.push(`node ${it.snapshot_id}: name ${n.name}, rcgc ${it.type}`);
    if (n.retainedSize !== it.retained_size)
      bad.push(`node ${it.snapshot_id} (${it.type}): memlab retains ${n.retainedSize}, rcgc ${it.retained_size}`);
    if (n.self_size !== it.self_size)
      bad.push(`node ${it.snapshot_id}: self ${n.self_size}, rcgc ${it.self_size}`);
  }
  if (bad.length) {
    console.log('memlab disagrees with rcgc:\n  ' + bad.join('\n  '));
    process.exit(1);
  }
  console.log(`memlab agrees: ${objects} objects, root retains ${root.retainedSize} bytes, ` +
              `${want.unreachable} unreachable, ${want.retainers.length} top retainers match (` +
              want.retainers.slice(0, 4).map(r => `${r.type} ${r.retained_size}`).join(', ') +
              (want.retainers.length > 4 ? ', ...)' : ')'));
})().catch(e => {
  console.log('memlab failed: ' + (e && e.stack || e));
  process.exit(1);
});
