// The contacts table: one API page at a time (its `limit`), forwards with
// the page's `next_cursor`, backwards with the cursors already followed.
// A column heading sorts the rows of the page shown.

import { api } from './api.js';
import { $, h, personHref, place, plural, timed, when } from './dom.js';

const SORT_KEYS = {
  observed_at: (row) => row.observed_at,
  met: (row) => row.met,
  place: (row) => `${row.city}\u0000${row.street}`,
  state: (row) => row.state,
  country: (row) => row.country,
};

export class ContactsTable {
  /** `onPage(rows)` is called with every page shown, `onError(error)` when
   * a page cannot be had. */
  constructor(onPage, onError) {
    this.onPage = onPage;
    this.rows = [];
    this.loading = 0; // the latest request: answers to earlier ones are dropped
    this.sort = { key: 'observed_at', ascending: true };
    $('next').addEventListener('click', () => this.go(+1).catch(onError));
    $('previous').addEventListener('click', () => this.go(-1).catch(onError));
    $('limit').addEventListener('change', () => this.query && this.show(this.query).catch(onError));
    for (const th of document.querySelectorAll('#contacts th[data-key]')) {
      th.querySelector('button').addEventListener('click', () => this.sortBy(th.dataset.key));
    }
  }

  /** Shows the first page of `query` ({mmid, since, until}). */
  async show(query) {
    // Nothing of the query before stays, not even its cursors.
    this.query = null;
    this.cursors = [null];
    this.next = null;
    this.rows = [];
    this.render();
    $('page-info').textContent = 'Loading…';
    await this.load(query, [null]);
  }

  async go(step) {
    const cursors = step > 0 ? [...this.cursors, this.next] : this.cursors.slice(0, -1);
    await this.load(this.query, cursors);
  }

  /** The page of `query` at the last of `cursors` (the ones followed to it). */
  async load(query, cursors) {
    const mine = ++this.loading;
    const { mmid, since, until } = query;
    const limit = Number($('limit').value);
    $('next').disabled = $('previous').disabled = true;
    try {
      const page = await api(`/contacts/${mmid}`, { query: { since, until, limit, cursor: cursors.at(-1) } });
      if (mine !== this.loading) return;
      this.query = query;
      this.cursors = cursors;
      this.rows = page.items;
      this.next = page.next_cursor;
    } finally {
      // The buttons of the page shown: the new one, or the one before when
      // this one cannot be had (none after `show` cleared it).
      if (mine === this.loading) {
        $('previous').disabled = this.cursors.length <= 1;
        $('next').disabled = !this.next;
      }
    }
    const first = (this.cursors.length - 1) * limit;
    $('page-info').textContent = this.rows.length === 0
      ? 'No contacts in this window.'
      : `Rows ${first + 1}–${first + this.rows.length}${this.next ? '' : ' (last page)'}`;
    this.sort = { key: 'observed_at', ascending: true };
    timed('table', () => this.render());
    this.onPage(this.rows);
  }

  sortBy(key) {
    this.sort = {
      key,
      ascending: this.sort.key === key ? !this.sort.ascending : true,
    };
    this.render();
  }

  render() {
    const { key, ascending } = this.sort;
    const value = SORT_KEYS[key];
    const rows = [...this.rows].sort((a, b) => {
      const [x, y] = [value(a), value(b)];
      const order = x < y ? -1 : x > y ? 1 : a.id - b.id;
      return ascending ? order : -order;
    });
    for (const th of document.querySelectorAll('#contacts th[data-key]')) {
      const sorted = th.dataset.key === key;
      th.setAttribute('aria-sort', sorted ? (ascending ? 'ascending' : 'descending') : 'none');
    }
    $('contacts').tBodies[0].replaceChildren(...rows.map((row) => h('tr', { 'data-id': row.id },
      h('td', null, h('time', { datetime: row.observed_at }, when(row.observed_at))),
      h('td', null, h('a', { href: personHref(row.met) }, `Person ${row.met}`)),
      h('td', null, place(row)),
      h('td', null, row.state),
      h('td', null, row.country),
    )));
    $('contacts-title').textContent = `Contacts (${plural(rows.length, 'row', 'rows')} on this page)`;
  }
}
