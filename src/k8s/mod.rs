//! Kubernetes objects from a plan: the VariantAutoscaling resources (two schemas), upstream's
//! ConfigMaps, HPA or KEDA scalers, Deployment scale patches and the CRD (`objects`, `va`,
//! `names`), their rendering, and, with the `push` feature, server-side apply to a cluster.

pub mod diff;
pub mod names;
pub mod objects;
#[cfg(feature = "push")]
pub mod push;
pub mod va;
