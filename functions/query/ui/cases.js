// Reporting a case of the person shown (POST /cases), following what
// pact-notify did with it (GET /cases/{id}), and withdrawing it (DELETE).

import { ApiError, api } from './api.js';
import { $, plural } from './dom.js';

const POLL_MS = 1000;
const POLL_FOR_MS = 60_000;

export class CaseForm {
  /** `onError(error)` shows what went wrong. */
  constructor(onError) {
    this.onError = onError;
    $('case-form').addEventListener('submit', (event) => {
      event.preventDefault();
      this.report().catch(onError);
    });
    $('withdraw').addEventListener('click', () => this.withdraw().catch(onError));
  }

  /** A new person: forget the case shown. */
  reset(mmid) {
    this.mmid = mmid;
    this.caseId = null;
    clearTimeout(this.timer);
    $('case').hidden = true;
    $('onset').value = '';
    $('reference').value = '';
  }

  async report() {
    const onset = $('onset').value;
    if (!onset) {
      $('onset').focus();
      throw new ApiError(422, { detail: 'onset: choose the day symptoms began or the test was taken' });
    }
    const reference = $('reference').value.trim();
    const accepted = await api('/cases', {
      method: 'POST',
      body: { mmid: this.mmid, onset, ...(reference ? { reference } : {}) },
    });
    this.caseId = accepted.case_id;
    $('case').hidden = false;
    $('withdraw').disabled = false;
    this.say(`Case ${accepted.case_id} reported; waiting for pact-notify…`);
    this.follow(Date.now() + POLL_FOR_MS, ['notified', 'withdrawn']);
  }

  async withdraw() {
    if (!this.caseId) return;
    $('withdraw').disabled = true;
    await api(`/cases/${this.caseId}`, { method: 'DELETE' });
    this.say(`Case ${this.caseId} withdrawn; waiting for pact-notify…`);
    this.follow(Date.now() + POLL_FOR_MS, ['withdrawn']);
  }

  /** Reads the case's state every second until it is one of `goals` or
   * time is up. */
  follow(until, goals) {
    clearTimeout(this.timer);
    const caseId = this.caseId;
    const tick = async () => {
      if (caseId !== this.caseId) return;
      let settled = false;
      try {
        const state = await api(`/cases/${caseId}`);
        if (caseId !== this.caseId) return;
        this.say(`Case ${caseId}: ${state.status}. ${plural(state.notified, 'person', 'people')} notified, ${state.pending} pending, ${state.withdrawn} withdrawn.`);
        $('case-state').dataset.notified = state.notified;
        $('case-state').dataset.status = state.status;
        settled = goals.includes(state.status);
        $('withdraw').disabled = state.status === 'withdrawn';
      } catch (error) {
        if (!(error instanceof ApiError && error.status === 404)) {
          this.onError(error);
          return;
        }
      }
      if (!settled && Date.now() < until) this.timer = setTimeout(tick, POLL_MS);
    };
    tick();
  }

  say(text) {
    $('case-state').textContent = text;
  }
}
