//! pact-producer's API tests: the router in-process and over real sockets,
//! with a recording sink standing in for `K_SINK`.

mod contract;
mod helpers;
mod identity;
mod ingress;
mod shutdown;
mod sink;
