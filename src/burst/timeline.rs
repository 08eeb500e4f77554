//! The timeline of a watch: pod and revision states in, one [`Change`] per
//! change of a service's [`PodCounts`] out.
//!
//! Pure on purpose (no Kubernetes types, no clock): the watch feeds it
//! classified states with their time, and tests script it directly.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

/// What a service's pods are doing at one instant.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct PodCounts {
    /// Sum of the service's Revisions' `status.desiredReplicas`: what the
    /// autoscaler asked for; `None` when no revision reports it or revisions
    /// cannot be read.
    pub desired: Option<u32>,
    /// Pods with condition `Ready=True` and no `deletionTimestamp`: those
    /// that take requests.
    pub ready: u32,
    /// Pods neither ready nor terminating (scheduled, pulling, starting).
    pub pending: u32,
    /// Pods with a `deletionTimestamp`: scaled down, still draining.
    pub terminating: u32,
}

impl PodCounts {
    /// No pod at all, starting or running: the service is at zero.
    pub fn is_zero(&self) -> bool {
        self.ready == 0 && self.pending == 0
    }
}

/// Compact counts for a table cell: `ready`, then `/desired` when known and
/// different, then `+N` starting (pending) and `-N` terminating when non-zero.
/// `3` is three ready pods as wanted; `3/5 +2 -1` is three ready of five
/// wanted, two starting, one going away.
pub fn format_counts(c: &PodCounts) -> String {
    let mut text = c.ready.to_string();
    if let Some(desired) = c.desired.filter(|&d| d != c.ready) {
        text.push_str(&format!("/{desired}"));
    }
    if c.pending > 0 {
        text.push_str(&format!(" +{}", c.pending));
    }
    if c.terminating > 0 {
        text.push_str(&format!(" -{}", c.terminating));
    }
    text
}

/// Where a pod is in its life, as far as scaling goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PodPhase {
    /// Not ready yet (or not ready any more) and not being deleted.
    Pending,
    /// `Ready=True`, no `deletionTimestamp`.
    Ready,
    /// `deletionTimestamp` set.
    Terminating,
}

/// One pod, reduced to what the counts need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodState {
    /// The Knative service it belongs to (its `serving.knative.dev/service`
    /// label).
    pub service: String,
    /// Its phase.
    pub phase: PodPhase,
}

/// One revision, reduced to what the counts need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevisionState {
    /// The Knative service it belongs to.
    pub service: String,
    /// Its `status.desiredReplicas`, when reported.
    pub desired: Option<u32>,
}

/// A service's counts changed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Change {
    /// Seconds since the timeline's origin.
    pub at_s: f64,
    /// The Knative service.
    pub service: String,
    /// Its counts from then on.
    pub counts: PodCounts,
}

/// The counts of every service at one instant.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Sample {
    /// Seconds since the timeline's origin.
    pub at_s: f64,
    /// Counts in force then, per service (every service seen so far).
    pub pods: BTreeMap<String, PodCounts>,
}

/// How one service scaled, for the summary and the chart's callouts.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServiceScaling {
    /// The Knative service.
    pub service: String,
    /// Ready pods when the load started (0 when it scaled from zero).
    pub ready_at_start: u32,
    /// Most ready pods at once from the load's start on.
    pub peak_ready: u32,
    /// When the peak was first reached, seconds since origin.
    pub peak_at_s: f64,
    /// From the load's start to the first instant more pods were ready than
    /// at the start; `None` if that never happened.
    pub scale_up_delay_s: Option<f64>,
    /// When the service was back to zero (no ready, no pending pod), seconds
    /// since origin; `None` if never seen.
    pub zero_at_s: Option<f64>,
    /// From the load's end (or, without one, from the peak) to `zero_at_s`.
    pub to_zero_s: Option<f64>,
}

/// Every change of every service's counts, in time order.
#[derive(Debug, Clone, Default)]
pub struct Timeline {
    pods: HashMap<String, PodState>,
    revisions: HashMap<String, RevisionState>,
    /// False when revisions cannot be read: desired stays unknown.
    revisions_known: bool,
    current: BTreeMap<String, PodCounts>,
    changes: Vec<Change>,
}

impl Timeline {
    /// An empty timeline; desired counts stay `None` until revisions arrive.
    pub fn new() -> Self {
        Self::default()
    }

    /// A pod was added or modified.
    pub fn pod_applied(&mut self, at_s: f64, name: &str, pod: PodState) {
        let old = self.pods.insert(name.to_owned(), pod.clone());
        let mut touched = vec![pod.service];
        touched.extend(old.map(|p| p.service));
        self.recount(at_s, touched);
    }

    /// A pod was deleted.
    pub fn pod_deleted(&mut self, at_s: f64, name: &str) {
        if let Some(old) = self.pods.remove(name) {
            self.recount(at_s, vec![old.service]);
        }
    }

    /// A (re-)list: these are now all the pods, and any other is gone (it
    /// was deleted while the watch was not looking). Records one change per
    /// service whose counts differ, all at `at_s`.
    pub fn pods_relisted(&mut self, at_s: f64, pods: impl IntoIterator<Item = (String, PodState)>) {
        let old = std::mem::take(&mut self.pods);
        self.pods = pods.into_iter().collect();
        let touched = old
            .into_values()
            .map(|p| p.service)
            .chain(self.pods.values().map(|p| p.service.clone()))
            .collect();
        self.recount(at_s, touched);
    }

    /// A revision was added or modified.
    pub fn revision_applied(&mut self, at_s: f64, name: &str, revision: RevisionState) {
        self.revisions_known = true;
        let old = self.revisions.insert(name.to_owned(), revision.clone());
        let mut touched = vec![revision.service];
        touched.extend(old.map(|r| r.service));
        self.recount(at_s, touched);
    }

    /// A revision was deleted.
    pub fn revision_deleted(&mut self, at_s: f64, name: &str) {
        if let Some(old) = self.revisions.remove(name) {
            self.recount(at_s, vec![old.service]);
        }
    }

    /// A (re-)list of revisions, replacing the ones known.
    pub fn revisions_relisted(
        &mut self,
        at_s: f64,
        revisions: impl IntoIterator<Item = (String, RevisionState)>,
    ) {
        self.revisions_known = true;
        let old = std::mem::take(&mut self.revisions);
        self.revisions = revisions.into_iter().collect();
        let touched = old
            .into_values()
            .map(|r| r.service)
            .chain(self.revisions.values().map(|r| r.service.clone()))
            .collect();
        self.recount(at_s, touched);
    }

    /// The counts now, per service seen so far (a service whose pods are
    /// all gone stays, at zero).
    pub fn current(&self) -> &BTreeMap<String, PodCounts> {
        &self.current
    }

    /// Every change, in time order.
    pub fn changes(&self) -> &[Change] {
        &self.changes
    }

    /// Every service seen, sorted.
    pub fn services(&self) -> Vec<String> {
        self.current.keys().cloned().collect()
    }

    /// The counts of one service in force at `at_s` (a change at exactly
    /// `at_s` is in force).
    pub fn counts_at(&self, service: &str, at_s: f64) -> PodCounts {
        self.changes
            .iter()
            .take_while(|c| c.at_s <= at_s)
            .filter(|c| c.service == service)
            .last()
            .map(|c| c.counts)
            .unwrap_or_default()
    }

    /// Counts per service at each multiple of `step_s` from 0 to `until_s`
    /// (the state in force at that instant; services not seen yet are left
    /// out).
    pub fn sample(&self, step_s: f64, until_s: f64) -> Vec<Sample> {
        // Also refuses NaN, which would loop forever.
        let valid = step_s > 0.0 && until_s >= 0.0 && until_s.is_finite();
        if !valid {
            return Vec::new();
        }
        let mut samples = Vec::new();
        let mut in_force = BTreeMap::new();
        let mut next_change = self.changes.iter().peekable();
        // Multiplying rather than adding keeps 0.1-steps on their boundaries.
        let mut k = 0u64;
        loop {
            let at_s = k as f64 * step_s;
            if at_s > until_s + 1e-9 {
                break;
            }
            while let Some(change) = next_change.next_if(|c| c.at_s <= at_s + 1e-9) {
                in_force.insert(change.service.clone(), change.counts);
            }
            samples.push(Sample {
                at_s,
                pods: in_force.clone(),
            });
            k += 1;
        }
        samples
    }

    /// How each service scaled around a load from `load_start_s` to
    /// `load_end_s` (`None`: no load end known, e.g. `--watch` alone, then
    /// the time to zero counts from the peak).
    pub fn scaling(&self, load_start_s: f64, load_end_s: Option<f64>) -> Vec<ServiceScaling> {
        self.services()
            .into_iter()
            .map(|service| {
                let start = self.counts_at(&service, load_start_s);
                let after: Vec<&Change> = self
                    .changes
                    .iter()
                    .filter(|c| c.service == service && c.at_s > load_start_s)
                    .collect();
                let (mut peak_ready, mut peak_at_s) = (start.ready, load_start_s);
                for change in &after {
                    if change.counts.ready > peak_ready {
                        (peak_ready, peak_at_s) = (change.counts.ready, change.at_s);
                    }
                }
                let scale_up_delay_s = after
                    .iter()
                    .find(|c| c.counts.ready > start.ready)
                    .map(|c| c.at_s - load_start_s);
                let reference_s = load_end_s.unwrap_or(peak_at_s);
                let zero_at_s = if self.counts_at(&service, reference_s).is_zero() {
                    Some(reference_s)
                } else {
                    self.changes
                        .iter()
                        .find(|c| {
                            c.service == service && c.at_s > reference_s && c.counts.is_zero()
                        })
                        .map(|c| c.at_s)
                };
                ServiceScaling {
                    service,
                    ready_at_start: start.ready,
                    peak_ready,
                    peak_at_s,
                    scale_up_delay_s,
                    zero_at_s,
                    to_zero_s: zero_at_s.map(|z| z - reference_s),
                }
            })
            .collect()
    }

    /// Recomputes the counts of these services and records those that
    /// changed.
    fn recount(&mut self, at_s: f64, mut services: Vec<String>) {
        services.sort();
        services.dedup();
        for service in services {
            let counts = self.count(&service);
            if self.current.get(&service) != Some(&counts) {
                self.current.insert(service.clone(), counts);
                self.changes.push(Change {
                    at_s,
                    service,
                    counts,
                });
            }
        }
    }

    fn count(&self, service: &str) -> PodCounts {
        let mut counts = PodCounts::default();
        for pod in self.pods.values().filter(|p| p.service == service) {
            match pod.phase {
                PodPhase::Pending => counts.pending += 1,
                PodPhase::Ready => counts.ready += 1,
                PodPhase::Terminating => counts.terminating += 1,
            }
        }
        if self.revisions_known {
            counts.desired = self
                .revisions
                .values()
                .filter(|r| r.service == service)
                .filter_map(|r| r.desired)
                .reduce(|a, b| a + b);
        }
        counts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(service: &str, phase: PodPhase) -> PodState {
        PodState {
            service: service.to_owned(),
            phase,
        }
    }

    fn counts(ready: u32, pending: u32, terminating: u32) -> PodCounts {
        PodCounts {
            desired: None,
            ready,
            pending,
            terminating,
        }
    }

    fn sequence(timeline: &Timeline, service: &str) -> Vec<(f64, PodCounts)> {
        timeline
            .changes()
            .iter()
            .filter(|c| c.service == service)
            .map(|c| (c.at_s, c.counts))
            .collect()
    }

    /// Scale 0 → 2 → 0 under a load from 1 s to 10 s.
    fn scripted() -> Timeline {
        let mut t = Timeline::new();
        t.pods_relisted(0.0, []);
        t.pod_applied(1.5, "a", pod("svc", PodPhase::Pending));
        t.pod_applied(3.0, "a", pod("svc", PodPhase::Ready));
        t.pod_applied(4.0, "b", pod("svc", PodPhase::Pending));
        t.pod_applied(5.0, "b", pod("svc", PodPhase::Ready));
        t.pod_applied(40.0, "b", pod("svc", PodPhase::Terminating));
        t.pod_applied(70.0, "a", pod("svc", PodPhase::Terminating));
        t.pod_deleted(71.0, "b");
        t.pod_deleted(72.0, "a");
        t
    }

    #[test]
    fn counts_follow_pod_states() {
        let t = scripted();
        assert_eq!(
            sequence(&t, "svc"),
            vec![
                (1.5, counts(0, 1, 0)),
                (3.0, counts(1, 0, 0)),
                (4.0, counts(1, 1, 0)),
                (5.0, counts(2, 0, 0)),
                (40.0, counts(1, 0, 1)),
                (70.0, counts(0, 0, 2)),
                (71.0, counts(0, 0, 1)),
                (72.0, counts(0, 0, 0)),
            ]
        );
        assert_eq!(t.services(), vec!["svc".to_owned()]);
        assert_eq!(t.current()["svc"], PodCounts::default());
    }

    #[test]
    fn an_unchanged_state_records_nothing() {
        let mut t = Timeline::new();
        t.pod_applied(1.0, "a", pod("svc", PodPhase::Ready));
        t.pod_applied(2.0, "a", pod("svc", PodPhase::Ready));
        t.pod_deleted(3.0, "never-seen");
        assert_eq!(sequence(&t, "svc"), vec![(1.0, counts(1, 0, 0))]);
    }

    #[test]
    fn a_relist_replaces_the_pods_in_one_change_per_service() {
        let mut t = Timeline::new();
        t.pod_applied(1.0, "a", pod("one", PodPhase::Ready));
        t.pod_applied(2.0, "b", pod("one", PodPhase::Ready));
        t.pod_applied(3.0, "x", pod("two", PodPhase::Ready));
        // During the gap: b deleted, c added; two's pod unchanged.
        t.pods_relisted(
            9.0,
            [
                ("a".to_owned(), pod("one", PodPhase::Ready)),
                ("c".to_owned(), pod("one", PodPhase::Pending)),
                ("x".to_owned(), pod("two", PodPhase::Ready)),
            ],
        );
        assert_eq!(
            sequence(&t, "one"),
            vec![
                (1.0, counts(1, 0, 0)),
                (2.0, counts(2, 0, 0)),
                (9.0, counts(1, 1, 0)),
            ]
        );
        assert_eq!(sequence(&t, "two"), vec![(3.0, counts(1, 0, 0))]);
        // b is gone for good: deleting it again changes nothing.
        t.pod_deleted(10.0, "b");
        assert_eq!(t.changes().len(), 4);
        // A relist without a service's pods takes it to zero, not away.
        t.pods_relisted(11.0, []);
        assert_eq!(t.current()["two"], PodCounts::default());
    }

    #[test]
    fn desired_sums_the_revisions_and_stays_unknown_without_them() {
        let mut t = Timeline::new();
        t.pod_applied(1.0, "a", pod("svc", PodPhase::Pending));
        assert_eq!(t.current()["svc"].desired, None);
        t.revisions_relisted(
            2.0,
            [(
                "svc-00001".to_owned(),
                RevisionState {
                    service: "svc".to_owned(),
                    desired: Some(1),
                },
            )],
        );
        t.revision_applied(
            3.0,
            "svc-00002",
            RevisionState {
                service: "svc".to_owned(),
                desired: Some(3),
            },
        );
        assert_eq!(t.current()["svc"].desired, Some(4));
        t.revision_deleted(4.0, "svc-00001");
        assert_eq!(t.current()["svc"].desired, Some(3));
        assert_eq!(t.counts_at("svc", 2.5).desired, Some(1));
    }

    #[test]
    fn scaling_reports_delay_peak_and_time_to_zero() {
        let t = scripted();
        let scaling = t.scaling(1.0, Some(10.0));
        assert_eq!(
            scaling,
            vec![ServiceScaling {
                service: "svc".to_owned(),
                ready_at_start: 0,
                peak_ready: 2,
                peak_at_s: 5.0,
                scale_up_delay_s: Some(2.0),
                zero_at_s: Some(70.0),
                to_zero_s: Some(60.0),
            }]
        );
        // Without a load end, the time to zero counts from the peak.
        let watch_only = &t.scaling(0.0, None)[0];
        assert_eq!(watch_only.scale_up_delay_s, Some(3.0));
        assert_eq!(watch_only.to_zero_s, Some(65.0));
    }

    #[test]
    fn scaling_that_never_happens_says_none() {
        let mut t = Timeline::new();
        t.pod_applied(0.0, "a", pod("svc", PodPhase::Ready));
        let s = &t.scaling(1.0, Some(5.0))[0];
        assert_eq!((s.ready_at_start, s.peak_ready), (1, 1));
        assert_eq!(s.scale_up_delay_s, None);
        assert_eq!((s.zero_at_s, s.to_zero_s), (None, None));
    }

    #[test]
    fn samples_hold_the_state_in_force_at_each_boundary() {
        let t = scripted();
        let samples = t.sample(1.0, 6.0);
        let ready: Vec<(f64, Option<u32>)> = samples
            .iter()
            .map(|s| (s.at_s, s.pods.get("svc").map(|c| c.ready)))
            .collect();
        // 0 s: nothing seen yet; 3 s and 5 s: changes at the boundary count.
        assert_eq!(
            ready,
            vec![
                (0.0, None),
                (1.0, None),
                (2.0, Some(0)),
                (3.0, Some(1)),
                (4.0, Some(1)),
                (5.0, Some(2)),
                (6.0, Some(2)),
            ]
        );
        assert_eq!(samples[4].pods["svc"], counts(1, 1, 0));
        assert_eq!(t.sample(0.1, 0.3).len(), 4);
        assert!(t.sample(0.0, 5.0).is_empty());
    }

    #[test]
    fn counts_format_compactly() {
        assert_eq!(format_counts(&counts(3, 0, 0)), "3");
        let busy = PodCounts {
            desired: Some(5),
            ready: 3,
            pending: 2,
            terminating: 1,
        };
        assert_eq!(format_counts(&busy), "3/5 +2 -1");
        let steady = PodCounts {
            desired: Some(3),
            ..counts(3, 0, 0)
        };
        assert_eq!(format_counts(&steady), "3");
    }
}
