// Building DOM and SVG nodes without innerHTML: text from the API is only
// ever set as text, so a city named "<script>" stays a name.

const SVG = 'http://www.w3.org/2000/svg';

function build(node, attrs, children) {
  for (const [key, value] of Object.entries(attrs ?? {})) {
    if (value === undefined || value === null || value === false) continue;
    node.setAttribute(key, value === true ? '' : String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

/** An HTML element: `h('a', {href: '#'}, 'text', child…)`. */
export function h(tag, attrs, ...children) {
  return build(document.createElement(tag), attrs, children);
}

/** An SVG element, as `h`. */
export function s(tag, attrs, ...children) {
  return build(document.createElementNS(SVG, tag), attrs, children);
}

export function $(id) {
  return document.getElementById(id);
}

/** `2026-12-01T14:03:07Z` as `2026-12-01 14:03` (the page speaks UTC). */
export function when(iso) {
  return iso.slice(0, 10) + ' ' + iso.slice(11, 16);
}

/** The place of a contact, as one line. */
export function place(contact) {
  const parts = [contact.street, contact.city, contact.zipcode].filter(Boolean);
  return parts.length > 0 ? parts.join(', ') : 'unknown place';
}

export function plural(count, one, many) {
  return `${count.toLocaleString('en')} ${count === 1 ? one : many}`;
}

/** A link to a person's page, with the window and hops of the one shown. */
export function personHref(mmid) {
  const query = location.hash.split('?')[1];
  return `#/person/${mmid}${query ? `?${query}` : ''}`;
}

/**
 * Runs `draw` and records how long it took as a `performance` measure
 * named `pact:<name>` (seen in the browser's tools; the tests read them).
 */
export function timed(name, draw) {
  const start = performance.now();
  try {
    return draw();
  } finally {
    performance.measure(`pact:${name}`, { start, end: performance.now() });
  }
}
