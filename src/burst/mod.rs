//! `pact burst`: load the Knative services and watch them scale from zero and back.

pub mod chart;
pub mod timeline;
pub mod watch;
