// A plain map drawn from coordinates: an equirectangular projection (x
// scaled by the cosine of the middle latitude, so shapes near the middle
// keep their proportions) fitted to the points, a graticule, one dot per
// place and one label per city. No tiles, nothing fetched.

import { h, plural, s } from './dom.js';

const WIDTH = 720;
const HEIGHT = 420;
const PAD = 36;
const LABELS_UP_TO = 30;
const STEPS = [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 30, 45];

/** Draws the places of `rows` (contacts) into `container`. */
export function drawMap(container, rows) {
  const located = rows.filter((r) => Number.isFinite(r.lat) && Number.isFinite(r.lon));
  const points = new Map();
  const cities = new Map();
  for (const row of located) {
    const key = `${row.lat},${row.lon}`;
    const point = points.get(key) ?? { lat: row.lat, lon: row.lon, count: 0, city: row.city };
    point.count += 1;
    points.set(key, point);
    const name = row.city || 'unknown place';
    const cityKey = `${name}\u0000${row.state}\u0000${row.country}`;
    const city = cities.get(cityKey) ?? { name, state: row.state, lat: 0, lon: 0, count: 0 };
    city.lat += row.lat;
    city.lon += row.lon;
    city.count += 1;
    cities.set(cityKey, city);
  }
  const missing = rows.length - located.length;
  const note = missing > 0 ? ` ${plural(missing, 'contact has', 'contacts have')} no coordinates (the original CSV format) and no dot.` : '';
  if (points.size === 0) {
    container.replaceChildren(h('p', null, `No coordinates to draw.${note}`));
    return 0;
  }

  const extent = (values) => [Math.min(...values), Math.max(...values)];
  const [south, north] = extent([...points.values()].map((p) => p.lat));
  const [west, east] = extent([...points.values()].map((p) => p.lon));
  const middle = (south + north) / 2;
  const midLon = (west + east) / 2;
  const squeeze = Math.max(Math.cos((middle * Math.PI) / 180), 0.1);
  // At least 0.01° (about a kilometre) each way: the places of one city
  // spread out, and a single place is not the whole map.
  const spanLon = Math.max(east - west, 0.01);
  const spanLat = Math.max(north - south, 0.01);
  const scale = Math.min((WIDTH - 2 * PAD) / (spanLon * squeeze), (HEIGHT - 2 * PAD) / spanLat);
  const x = (lon) => WIDTH / 2 + (lon - midLon) * squeeze * scale;
  const y = (lat) => HEIGHT / 2 - (lat - middle) * scale;
  const lonAt = (px) => midLon + (px - WIDTH / 2) / (squeeze * scale);
  const latAt = (py) => middle - (py - HEIGHT / 2) / scale;

  const grid = [];
  const stepOf = (span) => STEPS.find((st) => span / st <= 8) ?? 90;
  const lonStep = stepOf(lonAt(WIDTH) - lonAt(0));
  const latStep = stepOf(latAt(0) - latAt(HEIGHT));
  const digits = (st) => (st >= 1 ? 0 : st >= 0.1 ? 1 : st >= 0.01 ? 2 : 3);
  for (let lon = Math.ceil(lonAt(0) / lonStep) * lonStep; lon <= lonAt(WIDTH); lon += lonStep) {
    grid.push(s('line', { x1: x(lon), y1: 0, x2: x(lon), y2: HEIGHT }),
      s('text', { x: x(lon) + 3, y: HEIGHT - 4 }, `${lon.toFixed(digits(lonStep))}°`));
  }
  for (let lat = Math.ceil(latAt(HEIGHT) / latStep) * latStep; lat <= latAt(0); lat += latStep) {
    grid.push(s('line', { x1: 0, y1: y(lat), x2: WIDTH, y2: y(lat) }),
      s('text', { x: 3, y: y(lat) - 3 }, `${lat.toFixed(digits(latStep))}°`));
  }

  const biggest = Math.max(...[...points.values()].map((p) => p.count));
  const dots = [...points.values()].map((p) => s('circle', {
    class: 'place', cx: x(p.lon), cy: y(p.lat), r: 3 + 5 * Math.sqrt(p.count / biggest),
    'data-lat': p.lat, 'data-lon': p.lon,
  }, s('title', null, `${p.city || 'unknown place'}: ${plural(p.count, 'contact', 'contacts')} at ${p.lat.toFixed(4)}, ${p.lon.toFixed(4)}`)));
  // Largest cities first, each label beside its city where it overlaps no
  // other: right or left, level or one or two lines up or down (with a
  // leader line then); one that fits nowhere is left out.
  const taken = [];
  const free = (box) => box.x0 >= 0 && box.x1 <= WIDTH && box.y0 >= 0 && box.y1 <= HEIGHT
    && taken.every((t) => box.x1 < t.x0 || box.x0 > t.x1 || box.y1 < t.y0 || box.y0 > t.y1);
  const labels = [];
  for (const c of [...cities.values()]
    .sort((a, b) => b.count - a.count || a.name.localeCompare(b.name))
    .slice(0, LABELS_UP_TO)) {
    const [cx, cy] = [x(c.lon / c.count), y(c.lat / c.count)];
    const width = 7.2 * c.name.length;
    const spots = [0, -16, 16, -32, 32].flatMap((dy) => [1, -1].map((side) => {
      const edge = cx + side * 8;
      return {
        dy, x: edge, y: cy + 4 + dy, anchor: side > 0 ? 'start' : 'end',
        box: { x0: side > 0 ? edge - 2 : edge - width, x1: side > 0 ? edge + width : edge + 2, y0: cy + dy - 9, y1: cy + dy + 6 },
      };
    }));
    const spot = spots.find((candidate) => free(candidate.box));
    if (!spot) continue;
    taken.push(spot.box);
    if (spot.dy !== 0) labels.push(s('line', { class: 'leader', x1: cx, y1: cy, x2: spot.x, y2: cy + spot.dy }));
    labels.push(s('text', { class: 'city', x: spot.x, y: spot.y, 'text-anchor': spot.anchor, 'data-city': c.name }, c.name));
  }
  const description = `${plural(points.size, 'place', 'places')} in ${plural(cities.size, 'city', 'cities')}: ${[...cities.values()].map((c) => `${c.name} ${c.count}`).join(', ')}.`;
  container.replaceChildren(
    s('svg', { viewBox: `0 0 ${WIDTH} ${HEIGHT}`, class: 'map', role: 'img', 'aria-label': description },
      s('g', { class: 'grid' }, grid), s('g', null, dots), s('g', null, labels)),
    h('p', { class: 'hint' }, `${plural(points.size, 'place', 'places')} in ${plural(cities.size, 'city', 'cities')}.${note}`),
  );
  return points.size;
}
