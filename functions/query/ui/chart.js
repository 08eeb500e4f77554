// GET /stats as two bar charts: contacts by day, and by state (the largest
// twelve). Each bar carries its number as a tooltip and for screen readers.

import { h, plural, s } from './dom.js';

const WIDTH = 640;
const HEIGHT = 220;

/** Vertical bars, one per day. */
export function drawByDay(container, byDay) {
  if (byDay.length === 0) {
    container.replaceChildren(h('p', null, 'No contacts yet.'));
    return;
  }
  const top = Math.max(...byDay.map((d) => d.count));
  const slot = (WIDTH - 40) / byDay.length;
  const bars = byDay.map((d, i) => {
    const height = ((HEIGHT - 40) * d.count) / top;
    return s('g', null,
      s('rect', { class: 'bar', x: 40 + i * slot + 1, y: HEIGHT - 20 - height, width: Math.max(slot - 2, 1), height }),
      s('title', null, `${d.day}: ${plural(d.count, 'contact', 'contacts')}`));
  });
  const every = Math.ceil(byDay.length / 8);
  const ticks = byDay.map((d, i) => (i % every === 0
    ? s('text', { x: 40 + i * slot + slot / 2, y: HEIGHT - 4, 'text-anchor': 'middle' }, d.day.slice(5))
    : null));
  container.replaceChildren(s('svg', {
    viewBox: `0 0 ${WIDTH} ${HEIGHT}`, class: 'chart', role: 'img',
    'aria-label': `Contacts by day: ${byDay.map((d) => `${d.day} ${d.count}`).join(', ')}`,
  },
  s('text', { x: 0, y: 14 }, top.toLocaleString('en')),
  s('line', { class: 'axis', x1: 38, y1: HEIGHT - 20, x2: WIDTH, y2: HEIGHT - 20 }),
  bars, ticks));
}

/** Horizontal bars, the largest states first. */
export function drawByState(container, byState) {
  const largest = [...byState].sort((a, b) => b.count - a.count).slice(0, 12);
  if (largest.length === 0) {
    container.replaceChildren(h('p', null, 'No contacts yet.'));
    return;
  }
  const top = largest[0].count;
  const row = (HEIGHT - 10) / 12;
  const name = (d) => `${d.state || '—'}${d.country ? ` (${d.country})` : ''}`;
  const bars = largest.map((d, i) => s('g', null,
    s('text', { x: 0, y: i * row + row * 0.75 }, name(d)),
    s('rect', { class: 'bar', x: 150, y: i * row + 2, height: row - 4, width: Math.max(((WIDTH - 220) * d.count) / top, 1) }),
    s('text', { x: 156 + ((WIDTH - 220) * d.count) / top, y: i * row + row * 0.75 }, d.count.toLocaleString('en')),
    s('title', null, `${name(d)}: ${plural(d.count, 'contact', 'contacts')}`)));
  container.replaceChildren(s('svg', {
    viewBox: `0 0 ${WIDTH} ${HEIGHT}`, class: 'chart', role: 'img',
    'aria-label': `Contacts by state: ${largest.map((d) => `${name(d)} ${d.count}`).join(', ')}`,
  }, bars));
}
