//! `qpctl forge`: the model-creation pipeline. A transformer teacher labels a
//! large transfer set, a tiny student learns from those soft labels (and the
//! gold labels where present), and the student is quantized and packaged.
#![forbid(unsafe_code)]

pub mod alpha;
pub mod alpha_train;
pub mod distill;
pub mod pipeline;
pub mod transfer_set;
