// Exposures as rings: the person in the centre, everyone reached at one
// hop on the first ring, two hops on the second… Each node links to that
// person's page and sits in the slice of the node it was reached through.

import { h, personHref, plural, s } from './dom.js';

const SIZE = 640;
const CENTRE = SIZE / 2;
const LABELS_UP_TO = 24; // per ring: more would overlap
const EDGES_UP_TO = 500; // per ring
const MIN_GAP = 7; // px between dots on a ring

/**
 * Draws `items` (GET /exposures' items) around `mmid` into `container`; a
 * radial tree: each person reached through someone gets a slice of that
 * someone's angle, as wide as the number of people beyond them.
 */
export function drawGraph(container, mmid, items) {
  const rings = [];
  for (const item of items) (rings[item.hops - 1] ??= []).push(item);
  const step = (CENTRE - 40) / Math.max(rings.length, 1);

  // Who was reached through whom, and how many people lie beyond each one.
  // Anyone whose `via` is not drawn one hop closer hangs off the centre, so
  // the tree is rooted there whatever the answer holds.
  const hopsOf = new Map(items.map((item) => [item.mmid, item.hops]));
  const children = new Map();
  for (const item of items) {
    const via = hopsOf.get(item.via) === item.hops - 1 ? item.via : mmid;
    if (!children.has(via)) children.set(via, []);
    children.get(via).push(item);
  }
  const weight = new Map();
  for (const item of [...items].sort((a, b) => b.hops - a.hops)) {
    const beyond = (children.get(item.mmid) ?? []).reduce((sum, c) => sum + weight.get(c.mmid), 0);
    weight.set(item.mmid, Math.max(1, beyond));
  }
  const position = new Map([[mmid, { x: CENTRE, y: CENTRE }]]);
  const slice = (parent, from, to) => {
    const kids = (children.get(parent) ?? []).sort((a, b) => a.mmid - b.mmid);
    const total = kids.reduce((sum, kid) => sum + weight.get(kid.mmid), 0);
    let at = from;
    for (const kid of kids) {
      const span = ((to - from) * weight.get(kid.mmid)) / total;
      position.set(kid.mmid, { angle: at + span / 2 });
      slice(kid.mmid, at, at + span);
      at += span;
    }
  };
  slice(mmid, 0, 2 * Math.PI);
  // A ring too full for one row of dots becomes up to five rows (a band),
  // neighbours alternating between them.
  const dots = rings.map((ring = [], index) => {
    const radius = (index + 1) * step;
    const rows = Math.min(5, Math.ceil((ring.length * MIN_GAP) / (2 * Math.PI * radius)));
    const band = Math.min(step * 0.5, rows * MIN_GAP);
    ring.sort((a, b) => position.get(a.mmid).angle - position.get(b.mmid).angle);
    ring.forEach((item, rank) => {
      const p = position.get(item.mmid);
      const r = radius + (rows > 1 ? ((rank % rows) / (rows - 1) - 0.5) * band : 0);
      p.x = CENTRE + r * Math.sin(p.angle);
      p.y = CENTRE - r * Math.cos(p.angle);
    });
    return Math.max(2, Math.min(9, (Math.PI * radius * rows) / Math.max(ring.length, 1) / 1.5));
  });

  const guides = rings.map((_, index) => s('circle', { class: 'ring', cx: CENTRE, cy: CENTRE, r: (index + 1) * step }));
  const edges = [];
  const nodes = [];
  rings.forEach((ring = [], index) => {
    const hops = index + 1;
    const dot = dots[index];
    for (const item of ring) {
      const { x, y } = position.get(item.mmid);
      const from = position.get(item.via) ?? position.get(mmid);
      // Hundreds of lines would only grey the disc out.
      if (ring.length <= EDGES_UP_TO) edges.push(s('line', { class: 'edge', x1: from.x, y1: from.y, x2: x, y2: y }));
      const label = `Person ${item.mmid}, ${plural(hops, 'hop', 'hops')}, via ${item.via === mmid ? 'a direct contact' : `person ${item.via}`}, first met ${item.contact.observed_at.slice(0, 10)} in ${item.contact.city || 'an unknown place'}`;
      nodes.push(s('a', { href: personHref(item.mmid), 'data-hops': hops, 'data-mmid': item.mmid, 'aria-label': label },
        s('title', null, label),
        s('circle', { class: `node hop${Math.min(hops, 3)}`, cx: x, cy: y, r: dot }),
        ring.length <= LABELS_UP_TO
          ? s('text', { x, y: y - dot - 3, 'text-anchor': 'middle', class: 'label' }, String(item.mmid))
          : null,
      ));
    }
  });

  const centre = s('g', { class: 'centre', role: 'img', 'aria-label': `Person ${mmid}, the person looked up` },
    s('circle', { cx: CENTRE, cy: CENTRE, r: 12 }),
    s('text', { x: CENTRE, y: CENTRE + 28, 'text-anchor': 'middle', class: 'label strong' }, String(mmid)),
  );
  const svg = s('svg', {
    viewBox: `0 0 ${SIZE} ${SIZE}`, role: 'group', 'aria-labelledby': 'graph-summary',
    class: 'graph',
  }, s('g', { 'aria-hidden': 'true' }, guides, edges), centre, s('g', null, nodes));
  container.replaceChildren(svg);
  return rings.map((ring = []) => ring.length);
}

/** One line: how many people on each ring. */
export function graphSummary(counts, days, complete) {
  if (counts.length === 0) return `No one reached in the last ${plural(days, 'day', 'days')}.`;
  const parts = counts.map((n, i) => `${plural(n, 'person', 'people')} at ${plural(i + 1, 'hop', 'hops')}`);
  return `${parts.join(', ')} in the last ${plural(days, 'day', 'days')}${complete ? '' : ' (the first 5,000 shown)'}.`;
}

export function legend() {
  return h('ul', { class: 'legend' },
    h('li', { class: 'hop1' }, '1 hop'), h('li', { class: 'hop2' }, '2 hops'), h('li', { class: 'hop3' }, '3 hops'));
}
