//! `pact burst`: load the Knative services and watch them scale from zero and back.

pub mod timeline;
