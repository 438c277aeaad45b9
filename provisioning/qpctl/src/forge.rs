//! `qpctl forge …`: the model-creation pipeline, with progress bars and a summary.

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use qp_forge::distill::DistillConfig;
use qp_forge::pipeline::{DistillOptions, ForgeProgress, TeacherOptions, evaluate_csv, forge_distill, forge_teacher};
use qp_forge_teacher::{FineTuneConfig, HeadConfig};
use qp_sentiment::student::NativeStudent;

use crate::cli::ForgeCommand;

/// Turns pipeline progress into terminal progress bars (on stderr).
#[derive(Default)]
struct Bars {
    current: Option<(String, ProgressBar)>,
}

impl Bars {
    fn update(&mut self, event: ForgeProgress<'_>) {
        match event {
            ForgeProgress::Step(step) => {
                self.finish();
                eprintln!("==> {step}");
            }
            ForgeProgress::Count { step, done, total } => {
                if self.current.as_ref().is_none_or(|(name, _)| name != step) {
                    self.finish();
                    let bar = ProgressBar::new(total as u64);
                    bar.set_style(
                        ProgressStyle::with_template("{msg:>24} [{bar:40}] {pos}/{len} ({per_sec}, eta {eta})")
                            .unwrap_or_else(|_| ProgressStyle::default_bar())
                            .progress_chars("=> "),
                    );
                    bar.set_message(step.to_owned());
                    self.current = Some((step.to_owned(), bar));
                }
                if let Some((_, bar)) = &self.current {
                    bar.set_length(total as u64);
                    bar.set_position(done as u64);
                }
            }
            ForgeProgress::Epoch(p) => {
                self.finish();
                eprintln!(
                    "    epoch {:>2}/{}: loss {:.4}, held-out accuracy {:.4}, macro-F1 {:.4}{}",
                    p.epoch,
                    p.epochs,
                    p.train_loss,
                    p.validation.accuracy,
                    p.validation.macro_f1,
                    if p.improved { " (kept)" } else { "" }
                );
            }
        }
    }

    fn finish(&mut self) {
        if let Some((_, bar)) = self.current.take() {
            bar.finish();
        }
    }
}

pub fn run(command: ForgeCommand) -> anyhow::Result<()> {
    match command {
        ForgeCommand::Alpha(args) => crate::forge_alpha::run(args),
        ForgeCommand::Teacher { data, work, teacher_dir, fine_tune, fine_tune_epochs, limit } => {
            let options = TeacherOptions {
                data,
                work,
                teacher_dir,
                head: HeadConfig::default(),
                fine_tune: fine_tune.then(|| FineTuneConfig { epochs: fine_tune_epochs, ..FineTuneConfig::default() }),
                limit,
            };
            let mut bars = Bars::default();
            let summary = forge_teacher(&options, &mut |e| bars.update(e))?;
            bars.finish();
            println!("teacher trained on {} texts ({} held out)", summary.train, summary.validation);
            println!(
                "  head on frozen embeddings: held-out accuracy {:.4}, macro-F1 {:.4}",
                summary.head.val_accuracy, summary.head.val_macro_f1
            );
            if let Some(ft) = &summary.fine_tune {
                println!(
                    "  fine-tuned ({} epochs, {:.0} s): held-out accuracy {:.4}, macro-F1 {:.4}",
                    ft.epochs, ft.seconds, ft.val_accuracy, ft.val_macro_f1
                );
            }
            println!(
                "  teacher in use: {} (head {})",
                summary.teacher.model_dir.display(),
                summary.teacher.head.display()
            );
            Ok(())
        }
        ForgeCommand::Distill {
            data,
            work,
            out,
            transfer,
            seed,
            epochs,
            alpha,
            temperature,
            labelled_repeats,
            limit,
            report,
        } => {
            let defaults = DistillConfig::default();
            let config = DistillConfig {
                seed,
                epochs: epochs.unwrap_or(defaults.epochs),
                alpha: alpha.unwrap_or(defaults.alpha),
                temperature: temperature.unwrap_or(defaults.temperature),
                ..defaults
            };
            let options = DistillOptions {
                data,
                work,
                out,
                transfer_texts: transfer,
                transfer_seed: seed,
                config,
                limit,
                labelled_repeats,
            };
            let mut bars = Bars::default();
            let summary = forge_distill(&options, &mut |e| bars.update(e))?;
            bars.finish();
            println!(
                "student distilled from {} labelled + {} generated texts; {} held out",
                summary.labelled_train, summary.transfer, summary.validation
            );
            println!("  teacher   accuracy {:.4}  macro-F1 {:.4}", summary.teacher_accuracy, summary.teacher_macro_f1);
            println!("  f32       accuracy {:.4}  macro-F1 {:.4}", summary.f32_accuracy, summary.f32_macro_f1);
            for (name, v) in [("int8", &summary.int8), ("int4", &summary.int4)] {
                println!(
                    "  {name}      accuracy {:.4}  macro-F1 {:.4}  agrees with teacher {:.4}, with f32 {:.4}; {} B weights, {} B file",
                    v.accuracy, v.macro_f1, v.teacher_agreement, v.f32_agreement, v.weight_bytes, v.file_bytes
                );
            }
            println!("  wrote {} and {}", summary.model.display(), summary.model_int4.display());
            if let Some(path) = report {
                std::fs::write(&path, serde_json::to_vec_pretty(&summary)?)
                    .with_context(|| path.display().to_string())?;
            }
            Ok(())
        }
        ForgeCommand::Score { model, texts } => {
            use qp_sentiment::agent::{NativeModel, SentimentX};
            use qp_sentiment::assets::{AliasTable, MAX_ASSETS_PER_TEXT};
            let student = match model {
                Some(path) => NativeStudent::load(&path)?,
                None => qp_sentiment::shipped::student()?,
            };
            let mut registry = qp_wire::AssetRegistry::new();
            let aliases = AliasTable::embedded(&mut registry)?;
            let mut assets = [qp_wire::AssetId::from_wire(0); MAX_ASSETS_PER_TEXT];
            let mut sentimentx = SentimentX::new(NativeModel::new(student, 0), aliases, 0);
            for text in &texts {
                let scored = sentimentx.score_text(text)?;
                let found = sentimentx.aliases().assets_in(text, &mut assets);
                let symbols: Vec<&str> = assets[..found].iter().filter_map(|a| registry.symbol(*a)).collect();
                let [bear, bull, neutral] = scored.probabilities;
                println!(
                    "{:+3} (bearish {bear:.3} bullish {bull:.3} neutral {neutral:.3}) [{}] {text}",
                    scored.score,
                    symbols.join(",")
                );
            }
            Ok(())
        }
        ForgeCommand::Eval { model, data, json } => {
            let student = match model {
                Some(path) => NativeStudent::load(&path)?,
                None => qp_sentiment::shipped::student()?,
            };
            let report = evaluate_csv(&student, &data)?;
            if json {
                println!("{}", serde_json::to_string(&report)?);
            } else {
                println!(
                    "{}: n {} accuracy {:.4} macro-F1 {:.4}",
                    student.path().display(),
                    report.n,
                    report.accuracy,
                    report.macro_f1
                );
            }
            Ok(())
        }
    }
}
