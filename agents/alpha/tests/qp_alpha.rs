#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code
//! The Decide agent: features on hand-made frames, the shipped model, the policy, the agent,
//! and model files that are not what they should be.
use qp_alpha::*;
use qp_models::{Activation, DenseLayer, OnnxMlpBuilder};
use qp_runtime::{Agent, AgentContext, Outbox};
use qp_wire::*;

const SECOND: u64 = 1_000_000_000;

fn btc() -> AssetId {
    AssetId::from_wire(1)
}

fn frame<P: Payload>(payload: &P) -> FrameBuf {
    FrameBuf::encode(1, 1, payload)
}

fn observe<P: Payload>(features: &mut AlphaFeatures, payload: &P) -> Observed {
    let buf = frame(payload);
    features.observe(&decode(buf.as_frame_bytes()).unwrap()).unwrap()
}

/// A quote with mid `mid` (bid one tick below, ask one above) and the given sizes.
fn quote(mid: i64, ts: u64, sizes: (i64, i64)) -> Quote {
    Quote::new(btc(), (mid - 1, sizes.0), (mid + 1, sizes.1), ts)
}

fn features_of(features: &AlphaFeatures) -> FeatureVector {
    let mut x = [0.0; FEATURE_COUNT];
    features.features(btc(), &mut x);
    x
}

fn close(a: f32, b: f32) -> bool {
    (a - b).abs() < 1e-4 * (1.0 + b.abs())
}

mod features {
    use super::*;

    #[test]
    fn returns_volatility_spread_and_queue_imbalance_from_quotes() {
        let mut f = AlphaFeatures::new(4);
        // A mid rising one tick per 100 ms bucket for 6 s, from 100,000 ticks.
        for step in 0..=60u64 {
            let obs = observe(&mut f, &quote(100_000 + step as i64, step * 100_000_000, (30, 10)));
            assert_eq!(obs, Observed::Quote { asset: btc(), feed_ts_ns: step * 100_000_000 });
        }
        let x = features_of(&f);
        let ret = |back: i64| ((100_060.0f64 / (100_060 - back) as f64).ln() * 1e4) as f32;
        assert!(close(x[6], ret(5) / 2.0), "{x:?}");
        assert!(close(x[7], ret(20) / 4.0), "{x:?}");
        assert!(close(x[8], ret(50) / 6.0), "{x:?}");
        // 50 steps of about 0.1 bp each.
        let step_bp = (100_060.0f64 / 100_059.0).ln() * 1e4;
        assert!((x[9] - (50.0f64.sqrt() * step_bp / 4.0) as f32).abs() < 1e-3, "{x:?}");
        assert!(close(x[10], (2.0 / 100_060.0 * 1e4 / 2.0) as f32), "{x:?}");
        assert!(close(x[11], 0.5), "(30 − 10) / 40: {x:?}");
        // No signals: the first six are zero.
        assert_eq!(&x[..6], &[0.0; 6]);
    }

    #[test]
    fn returns_need_their_window_of_history_and_repeated_quotes_change_nothing() {
        let mut f = AlphaFeatures::new(4);
        observe(&mut f, &quote(100_000, 0, (10, 10)));
        observe(&mut f, &quote(100_010, 300_000_000, (10, 10)));
        let x = features_of(&f);
        assert!(x[6] == 0.0 && x[7] == 0.0 && x[8] == 0.0, "under 0.5 s of history: {x:?}");
        observe(&mut f, &quote(100_010, 700_000_000, (10, 10)));
        let x = features_of(&f);
        assert!(close(x[6], ((100_010.0f64 / 100_000.0).ln() * 1e4 / 2.0) as f32), "{x:?}");
        // A re-published top in the same bucket (the publisher's refresh) leaves every feature alone.
        observe(&mut f, &quote(100_010, 720_000_000, (10, 10)));
        assert_eq!(features_of(&f), x);
    }

    #[test]
    fn signals_decay_with_their_half_lives() {
        let mut f = AlphaFeatures::new(4);
        observe(&mut f, &SentimentSignal::new(btc(), 10, 10_000, 0, 1));
        observe(&mut f, &BookSignal::new(btc(), BookSignalKind::Imbalance, 5_000, 100_000, 0));
        observe(&mut f, &BookSignal::new(btc(), BookSignalKind::LiquidityDrop, -8_000, 100_000, 0));
        observe(&mut f, &BlockPrint::new(btc(), Side::Sell, 0, 0, 100_000, 5, 0));
        let x = features_of(&f);
        assert_eq!([x[0], x[1], x[2], x[3], x[4], x[5]], [1.0, 1.0, 0.0, 0.5, -0.8, -0.25]);
        // One second later: the book signals have halved, the print is at 1/√2, the news barely moved.
        observe(&mut f, &quote(100_000, SECOND, (10, 10)));
        let x = features_of(&f);
        assert!(close(x[3], 0.25) && close(x[4], -0.4), "{x:?}");
        assert!(close(x[5], -0.25 / 2f32.sqrt()), "{x:?}");
        assert!(close(x[0], 0.5f32.powf(1.0 / 60.0)), "{x:?}");
        // Confirmed: score 6 at 50 % confidence, half-life 10 s.
        let sentiment = SentimentSignal::new(btc(), 6, 5_000, SECOND, 1);
        let book = BookSignal::new(btc(), BookSignalKind::Imbalance, 5_000, 100_000, SECOND);
        let obs = observe(&mut f, &Confirmed::new(&sentiment, &book));
        assert_eq!(obs, Observed::Confirmed { asset: btc(), ref_price: 100_000 });
        assert!(close(features_of(&f)[2], 0.3));
        observe(&mut f, &quote(100_000, 11 * SECOND, (10, 10)));
        assert!(close(features_of(&f)[2], 0.15));
        // Sixty seconds of sentiment half-life from t = 0.
        observe(&mut f, &quote(100_000, 60 * SECOND, (10, 10)));
        assert!(close(features_of(&f)[0], 0.5), "{:?}", features_of(&f));
    }

    #[test]
    fn the_same_frames_give_the_same_features_and_late_frames_do_not_rewind_the_clock() {
        let frames: Vec<FrameBuf> = (0..500u64)
            .map(|i| match i % 5 {
                0 => frame(&quote(100_000 + (i as i64 * 7919) % 13, i * 37_000_000, (1 + i as i64 % 7, 3))),
                1 => frame(&SentimentSignal::new(btc(), (i % 21) as i8 - 10, 7_000, i * 37_000_000, 1)),
                2 => {
                    frame(&BookSignal::new(btc(), BookSignalKind::Imbalance, (i as i32 % 9) * 1000, 1, i * 37_000_000))
                }
                3 => frame(&BlockPrint::new(btc(), Side::Buy, 0, 0, 1, 1, i * 37_000_000 - 5_000_000)),
                _ => frame(&quote(100_000, i * 37_000_000, (2, 2))),
            })
            .collect();
        let run = || {
            let mut f = AlphaFeatures::new(2);
            let mut rows = Vec::new();
            for buf in &frames {
                f.observe(&decode(buf.as_frame_bytes()).unwrap()).unwrap();
                rows.push(features_of(&f));
            }
            rows
        };
        let (a, b) = (run(), run());
        assert_eq!(a, b);
        assert!(a.iter().flatten().all(|v| v.is_finite()));
        let mut f = AlphaFeatures::new(2);
        observe(&mut f, &quote(100_000, 10 * SECOND, (1, 1)));
        // A print stamped before the clock counts at the clock.
        observe(&mut f, &BlockPrint::new(btc(), Side::Buy, 0, 0, 1, 1, 9 * SECOND));
        assert_eq!(f.clock_ns(btc()), 10 * SECOND);
        assert!(close(features_of(&f)[5], 0.25));
    }

    #[test]
    fn unknown_assets_and_foreign_frames_are_refused() {
        let mut f = AlphaFeatures::new(2);
        let far = Quote::new(AssetId::from_wire(3), (1, 1), (2, 1), 0);
        let buf = frame(&far);
        assert_eq!(f.observe(&decode(buf.as_frame_bytes()).unwrap()), Err(FeatureError::UnknownAsset(3, 2)));
        let decision = Decision::new(1, btc(), Side::Buy, 1, 1, 0);
        let buf = frame(&decision);
        assert_eq!(
            f.observe(&decode(buf.as_frame_bytes()).unwrap()),
            Err(FeatureError::UnexpectedFrame(FrameType::Decision))
        );
    }
}

mod model {
    use super::*;

    #[test]
    fn the_committed_model_loads_on_every_native_kernel_and_gives_probabilities() {
        for kind in [BackendKind::NativeF32, BackendKind::NativeInt8] {
            let mut model = AlphaModel::shipped(kind).unwrap();
            assert_eq!(model.identity().name, SHIPPED_MODEL_NAME);
            assert_eq!(model.backend_name(), kind.backend_name());
            for input in [[0.0; FEATURE_COUNT], [1.0; FEATURE_COUNT], [-4.0; FEATURE_COUNT]] {
                let p = model.predict(&input).unwrap();
                assert!(p.probabilities.iter().all(|v| v.is_finite() && (0.0..=1.0).contains(v)), "{p:?}");
                assert!((p.probabilities.iter().sum::<f32>() - 1.0).abs() < 1e-4, "{p:?}");
                assert!((-1.0..=1.0).contains(&p.edge()));
            }
        }
        let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models/alpha-v1.onnx");
        let bytes = std::fs::read(&file).unwrap();
        assert!(bytes.len() < 8 * 1024, "a few KB: {}", bytes.len());
        assert_eq!(bytes, SHIPPED_MODEL_BYTES, "the embedded model is the committed file");
        let loaded = AlphaModel::load(&file, BackendKind::NativeF32).unwrap();
        assert_eq!(loaded.identity().sha256, AlphaModel::shipped(BackendKind::NativeF32).unwrap().identity().sha256);
        assert_eq!(loaded.identity().file_bytes, bytes.len());
    }

    #[test]
    fn the_identity_is_the_sha256_of_the_file() {
        // SHA-256("abc"), FIPS 180-2.
        let id = ModelIdentity::of("m", b"abc");
        assert_eq!(id.sha256_hex(), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert_eq!(id.short_id(), u32::from_le_bytes([0xba, 0x78, 0x16, 0xbf]));
    }

    #[test]
    fn onnx_runtime_agrees_with_the_native_kernel_when_it_is_installed() {
        if std::env::var_os(qp_models::ORT_DYLIB_PATH_ENV).is_none() {
            eprintln!("ORT_DYLIB_PATH not set: ONNX Runtime comparison skipped");
            return;
        }
        let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models/alpha-v1.onnx");
        let mut ort = AlphaModel::load(&file, BackendKind::OnnxRuntime).unwrap();
        let mut native = AlphaModel::shipped(BackendKind::NativeF32).unwrap();
        let mut rng = qp_models::SplitMix64::new(3);
        for _ in 0..100 {
            let x: FeatureVector = std::array::from_fn(|_| rng.uniform_symmetric_f32(3.0));
            let (a, b) = (ort.predict(&x).unwrap(), native.predict(&x).unwrap());
            for (p, q) in a.probabilities.iter().zip(b.probabilities) {
                assert!((p - q).abs() < 1e-5, "{a:?} vs {b:?}");
            }
        }
    }

    #[test]
    fn bad_model_files_are_typed_errors_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let garbage = dir.path().join("garbage.onnx");
        std::fs::write(&garbage, b"not a model at all").unwrap();
        let err = AlphaModel::load(&garbage, BackendKind::NativeF32).unwrap_err();
        assert!(matches!(err, AlphaModelError::Model(_)), "{err:?}");
        assert!(err.to_string().contains(&garbage.display().to_string()), "{err}");

        let missing = dir.path().join("missing.onnx");
        let err = AlphaModel::load(&missing, BackendKind::NativeInt8).unwrap_err();
        assert!(err.to_string().contains(&missing.display().to_string()), "{err}");

        // A valid ONNX MLP of the wrong shape (SentimentX-like: 8 in, 3 out).
        let wrong = dir.path().join("wrong-shape.onnx");
        OnnxMlpBuilder::seeded(&[8, 4, 3], Activation::Relu, Activation::Softmax, 1).unwrap().write(&wrong).unwrap();
        let err = AlphaModel::load(&wrong, BackendKind::NativeF32).unwrap_err();
        assert!(matches!(err, AlphaModelError::Shape { inputs: 8, outputs: 3, .. }), "{err:?}");
        assert!(err.to_string().starts_with(&format!("model {}: takes 8 features", wrong.display())), "{err}");

        let err = AlphaModel::from_bytes(SHIPPED_MODEL_BYTES, "embedded", BackendKind::OnnxRuntime).unwrap_err();
        assert!(matches!(err, AlphaModelError::EmbeddedOnnxRuntime { .. }), "{err:?}");
    }
}

mod policy {
    use super::*;

    #[test]
    fn thresholds_give_direction_and_size_scales_with_the_edge_up_to_the_cap() {
        let policy = DecisionPolicy { min_edge: 0.2, min_qty_lots: 2, max_qty_lots: 10 };
        assert_eq!(policy.decide(0.0), None);
        assert_eq!(policy.decide(0.19), None);
        assert_eq!(policy.decide(-0.19), None);
        assert_eq!(policy.decide(f32::NAN), None);
        assert_eq!(policy.decide(0.2), Some((Side::Buy, 2)));
        assert_eq!(policy.decide(-0.2), Some((Side::Sell, 2)));
        assert_eq!(policy.decide(0.6), Some((Side::Buy, 6)));
        assert_eq!(policy.decide(-1.0), Some((Side::Sell, 10)));
        assert_eq!(policy.decide(1.5), Some((Side::Buy, 10)), "capped");
        let zero = DecisionPolicy { min_edge: 0.0, min_qty_lots: 1, max_qty_lots: 1 };
        assert_eq!(zero.decide(1e-6), Some((Side::Buy, 1)));
        assert_eq!(zero.decide(0.0), None);
        assert!((policy.size_fraction(5) - 0.5).abs() < 1e-12);
    }
}

mod agent {
    use super::*;

    /// A hand-made model: P(up) − P(down) follows queue imbalance (feature 11) and nothing else.
    fn queue_model() -> AlphaModel {
        let mut w1 = vec![0.0; 2 * FEATURE_COUNT];
        w1[11] = 1.0;
        w1[FEATURE_COUNT + 11] = -1.0;
        let w2 = vec![0.0, 4.0, 0.0, 0.0, 4.0, 0.0];
        let bytes = OnnxMlpBuilder::new(FEATURE_COUNT)
            .layer(DenseLayer::new(FEATURE_COUNT, 2, w1, vec![0.0; 2], Activation::Relu).unwrap())
            .unwrap()
            .layer(DenseLayer::new(2, 3, w2, vec![0.0; 3], Activation::Softmax).unwrap())
            .unwrap()
            .to_bytes()
            .unwrap();
        AlphaModel::from_bytes(&bytes, "queue.onnx", BackendKind::NativeF32).unwrap()
    }

    fn agent(cadence_ns: u64) -> DecideAgent {
        DecideAgent::new(
            queue_model(),
            DecideConfig {
                policy: DecisionPolicy { min_edge: 0.3, min_qty_lots: 1, max_qty_lots: 10 },
                limit_offset_ticks: 5,
                cadence_ns,
                max_assets: 2,
            },
        )
    }

    fn run<P: Payload>(agent: &mut DecideAgent, payload: &P) -> Vec<FrameBuf> {
        let mut out = Outbox::new("test");
        let buf = frame(payload);
        agent.on_frame(AgentContext { now_ns: 0 }, decode(buf.as_frame_bytes()).unwrap(), &mut out).unwrap();
        let mut frames = Vec::new();
        out.drain_into(|f| {
            frames.push(f);
            Ok(())
        });
        frames
    }

    fn decisions(frames: &[FrameBuf]) -> Vec<Decision> {
        frames.iter().filter_map(|f| decode_as::<Decision>(f.as_frame_bytes()).ok()).map(|f| *f.payload).collect()
    }

    fn confirmed(ts: u64) -> Confirmed {
        let sentiment = SentimentSignal::new(btc(), 5, 9_000, ts, 1);
        Confirmed::new(&sentiment, &BookSignal::new(btc(), BookSignalKind::Imbalance, 6_000, 100_000, ts))
    }

    #[test]
    fn a_confirmed_signal_is_decided_by_the_model_with_its_reason() {
        let mut agent = agent(0);
        // Bids three times the asks: edge ≈ tanh-like in 0.5 · 4 → a buy.
        let passed = run(&mut agent, &quote(100_000, 0, (30, 10)));
        assert_eq!(passed.len(), 1, "the quote passes on");
        assert!(decode_as::<Quote>(passed[0].as_frame_bytes()).is_ok());
        let out = run(&mut agent, &confirmed(SECOND));
        let d = decisions(&out);
        assert_eq!(d.len(), 1, "{out:?}");
        assert_eq!((d[0].side(), d[0].reason.get(), d[0].decision_id.get()), (Some(Side::Buy), REASON_CONFIRMED, 1));
        assert_eq!(d[0].limit_price.get(), 100_005, "ref price + 5 ticks");
        let verdict = agent.last_verdict().unwrap();
        assert_eq!(verdict.decision, Some((Side::Buy, d[0].qty.get())));
        assert!(verdict.prediction.edge() > 0.3);
        // Asks heavy: a sell; balanced: flat, nothing emitted.
        run(&mut agent, &quote(100_000, 2 * SECOND, (10, 30)));
        let d = decisions(&run(&mut agent, &confirmed(2 * SECOND)));
        assert_eq!((d[0].side(), d[0].limit_price.get(), d[0].decision_id.get()), (Some(Side::Sell), 99_995, 2));
        run(&mut agent, &quote(100_000, 3 * SECOND, (10, 10)));
        assert!(run(&mut agent, &confirmed(3 * SECOND)).is_empty());
        assert_eq!(agent.triggers(), 3);
        // Signals end here; execution reports pass on.
        assert!(run(&mut agent, &SentimentSignal::new(btc(), 1, 1, 0, 1)).is_empty());
        assert!(run(&mut agent, &BlockPrint::new(btc(), Side::Buy, 0, 0, 1, 1, 0)).is_empty());
        assert_eq!(agent.model_identity().name, "queue.onnx");
    }

    #[test]
    fn the_cadence_decides_once_per_period_of_feed_time_at_a_quote() {
        let mut agent = agent(5 * SECOND);
        let mut made = Vec::new();
        for i in 0..=100u64 {
            // One quote every 250 ms for 25 s, bids heavy.
            made.extend(decisions(&run(&mut agent, &quote(100_000, i * 250_000_000, (30, 10)))));
        }
        // The first quote starts the count: decisions at 5, 10, 15, 20, 25 s.
        assert_eq!(made.len(), 5, "{made:?}");
        assert!(made.iter().all(|d| d.reason.get() == REASON_CADENCE && d.side() == Some(Side::Buy)));
        assert!(made.iter().all(|d| d.limit_price.get() == 100_005), "mid + 5 ticks");
        assert_eq!(agent.triggers(), 5);
    }
}
