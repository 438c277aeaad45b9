//! The agents that trade beside Decide, on the feeder thread: NeuralArb (the spread between two
//! configured assets), Guardian (a risk-parity book worth a budget) and LiquidityFlow (works each
//! of Guardian's trades as a parent order, in child orders). Like Decide, none of them makes an
//! order: their `Decision`s go down the loop to RiskSentinel, and the risk stage's intents and
//! vetoes and the venue's execution reports come back to the agent that decided.
//!
//! Guardian's own decisions are parent orders: they go to the loop's output (the audit trail
//! records them) but not to risk, which judges each child LiquidityFlow sends instead.
//!
//! Decision ids say who decided ([`decision_maker`]): Decide numbers from 1, NeuralArb from
//! [`ARB_DECISION_IDS`], each of Guardian's parents from [`GUARDIAN_DECISION_IDS`], and the
//! LiquidityFlow working parent `p` from `FLOW_DECISION_IDS + (p << 24)`.
//!
//! Everything runs on the replay's feed time and the lockstep, so a replay stays deterministic.
use qp_book::TradePrint;
use qp_guardian::{GuardedAsset, Guardian, GuardianConfig, GuardianStats, RebalanceTick};
use qp_liquidity_flow::{Algo, FlowActions, FlowConfig, LiquidityFlow, ParentOrder};
use qp_neural_arb::{ArbConfig, ArbDecisions, ArbStats, HedgeRatio, LegConfig, NeuralArb};
use qp_risk_model::ReturnMatrix;
use qp_runtime::{AgentContext, IngestAgent, OUTBOX_CAPACITY, Outbox};
use qp_wire::{AssetId, ExecReport, ExecStatus, FrameBuf, FrameRef, OrderIntent, Quote, RiskVerdict};

use crate::config::{ArbLoopConfig, GuardianLoopConfig, LoopConfig, WorkConfig};

/// NeuralArb's first decision id.
pub const ARB_DECISION_IDS: u64 = 1 << 48;
/// LiquidityFlow's first decision id; parent `p`'s children start at `+ (p << 24)`.
pub const FLOW_DECISION_IDS: u64 = 2 << 48;
/// Guardian's first decision id (its parents).
pub const GUARDIAN_DECISION_IDS: u64 = 3 << 48;
const FLOW_PARENT_SHIFT: u32 = 24;

/// Who made a decision, read off its id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DecisionMaker {
    Decide,
    NeuralArb,
    /// A child of the LiquidityFlow parent with this number.
    LiquidityFlow(u64),
    Guardian,
}

impl DecisionMaker {
    /// The agent's name, in lower case as the benchmarks name stages.
    pub fn name(&self) -> &'static str {
        match self {
            DecisionMaker::Decide => "decide",
            DecisionMaker::NeuralArb => "neuralarb",
            DecisionMaker::LiquidityFlow(_) => "liquidityflow",
            DecisionMaker::Guardian => "guardian",
        }
    }
}

/// Who made the decision with id `decision_id`.
pub fn decision_maker(decision_id: u64) -> DecisionMaker {
    match decision_id >> 48 {
        0 => DecisionMaker::Decide,
        1 => DecisionMaker::NeuralArb,
        2 => DecisionMaker::LiquidityFlow((decision_id - FLOW_DECISION_IDS) >> FLOW_PARENT_SHIFT),
        _ => DecisionMaker::Guardian,
    }
}

/// Why the portfolio agents could not start.
#[derive(Debug, thiserror::Error)]
pub enum PortfolioError {
    #[error("arb.{0}: not a configured asset")]
    UnknownAsset(&'static str),
    #[error("arb: {0}")]
    Arb(#[from] qp_neural_arb::ArbConfigError),
    #[error("guardian: {0}")]
    Guardian(#[from] qp_guardian::GuardianError),
    #[error("arb.clip: {0}")]
    Clip(#[from] qp_replay::FixedPointError),
}

/// What the portfolio agents did, for the demo's summary.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PortfolioSummary {
    pub arb: Option<ArbSummary>,
    pub guardian: Option<GuardianSummary>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ArbSummary {
    pub near: AssetId,
    pub far: AssetId,
    pub stats: ArbStats,
    /// Near and far positions, lots (its own fills).
    pub positions: (i64, i64),
    pub refused_quotes: u64,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct GuardianSummary {
    pub stats: GuardianStats,
    /// Rebalance ticks that failed (the risk model refused the window).
    pub errors: u64,
    /// Parent orders handed to LiquidityFlow, and how they ended.
    pub parents: u64,
    pub parents_done: u64,
    /// Past their end and a grace period as long again: what still worked was cancelled.
    pub parents_abandoned: u64,
    /// LiquidityFlow's children sent to risk, and vetoed there.
    pub children: u64,
    pub child_vetoes: u64,
    /// Lots filled over all parents, and the mean implementation shortfall (bp, a cost is
    /// positive) of the parents that filled anything.
    pub filled_lots: i64,
    pub mean_shortfall_bp: f64,
    /// Guardian's book at the end (its children's fills), lots per configured asset.
    pub positions: Vec<(AssetId, i64)>,
}

/// An intent of an agent here, still working at the venue.
#[derive(Debug, Clone, Copy)]
struct OwnedIntent {
    intent_id: u64,
    owner: DecisionMaker,
}

#[derive(Debug)]
struct ArbDesk {
    agent: NeuralArb,
    out: ArbDecisions,
    near: AssetId,
    far: AssetId,
    refused_quotes: u64,
}

#[derive(Debug)]
struct FlowSlot {
    parent: u64,
    flow: LiquidityFlow,
    /// Index of the asset in the configured assets, and +1 buy / −1 sell.
    asset_index: usize,
    sign: i64,
    /// After this (feed time) what still works is cancelled and no new child is sent.
    deadline_ns: u64,
    abandoned: bool,
}

#[derive(Debug)]
struct GuardianDesk {
    guardian: Guardian,
    assets: Vec<AssetId>,
    book_value: f64,
    work: WorkConfig,
    max_child_bp: u32,
    sample_ns: u64,
    next_sample_ns: u64,
    rebalance_ns: u64,
    next_rebalance_ns: u64,
    /// Latest mid per asset (ticks, rounded down), and the mid at the last sample.
    mids: Vec<i64>,
    sampled: Vec<i64>,
    /// The last `window` rows of simple returns, a ring of `window × assets`.
    returns: Vec<f64>,
    window: usize,
    rows: usize,
    head: usize,
    /// Guardian's book: what its children filled, lots per asset.
    positions: Vec<i64>,
    outbox: Outbox,
    summary: GuardianSummary,
    shortfall_sum: f64,
    shortfall_n: u64,
}

/// NeuralArb, Guardian and LiquidityFlow as the loop runs them (see the module docs).
#[derive(Debug)]
pub struct PortfolioAgents {
    origin: u32,
    sequence: u64,
    arb: Option<ArbDesk>,
    guardian: Option<GuardianDesk>,
    flows: Vec<FlowSlot>,
    next_parent: u64,
    owned: Vec<OwnedIntent>,
    /// Decisions made, not yet taken by the loop ([`PortfolioAgents::take_decisions`]).
    decisions: Vec<FrameBuf>,
    /// Guardian's parents, for the loop's output ([`PortfolioAgents::take_parents`]).
    parents: Vec<FrameBuf>,
    /// Intents to cancel at the venue ([`PortfolioAgents::take_cancels`]).
    cancels: Vec<u64>,
}

impl PortfolioAgents {
    /// The agents `config` turns on (`[arb]`, `[guardian]`); `assets` are the configured
    /// assets' ids in `[[assets]]` order.
    pub fn new(config: &LoopConfig, assets: &[AssetId]) -> Result<Self, PortfolioError> {
        let arb = config.arb.as_ref().map(|arb| arb_desk(config, arb, assets)).transpose()?;
        let guardian = config.guardian.as_ref().map(|g| guardian_desk(config, g, assets)).transpose()?;
        Ok(Self {
            origin: config.node.origin_node,
            sequence: 0,
            arb,
            guardian,
            flows: Vec::new(),
            next_parent: 0,
            owned: Vec::new(),
            decisions: Vec::new(),
            parents: Vec::new(),
            cancels: Vec::new(),
        })
    }

    /// Whether any agent here is on.
    pub fn is_active(&self) -> bool {
        self.arb.is_some() || self.guardian.is_some()
    }

    /// A top of book the ingest side published.
    pub fn on_quote(&mut self, now_ns: u64, quote: &Quote) {
        if let Some(arb) = &mut self.arb
            && (quote.asset() == arb.near || quote.asset() == arb.far)
        {
            if arb.agent.on_quote(now_ns, quote, &mut arb.out).is_err() {
                arb.refused_quotes += 1;
            }
            Self::take_arb(arb, self.origin, &mut self.sequence, &mut self.decisions);
        }
        for slot in self.flows.iter_mut().filter(|slot| !slot.abandoned) {
            let mut actions = FlowActions::default();
            slot.flow.on_quote(now_ns, quote, &mut actions);
            Self::take_flow(actions, self.origin, &mut self.sequence, &mut self.decisions, &mut self.cancels);
        }
        if let Some(desk) = &mut self.guardian
            && let Some(index) = desk.assets.iter().position(|a| *a == quote.asset())
        {
            let (bid, ask) = (quote.bid_price.get(), quote.ask_price.get());
            if bid > 0 && ask > bid {
                desk.mids[index] = bid + (ask - bid) / 2;
            }
        }
        self.on_time(now_ns);
    }

    /// A trade print on an asset's tape (LiquidityFlow's participation schedules count it).
    pub fn on_trade(&mut self, now_ns: u64, asset: AssetId, print: &TradePrint) {
        for slot in self.flows.iter_mut().filter(|slot| !slot.abandoned) {
            let mut actions = FlowActions::default();
            slot.flow.on_trade(now_ns, asset, print.qty, &mut actions);
            Self::take_flow(actions, self.origin, &mut self.sequence, &mut self.decisions, &mut self.cancels);
        }
    }

    /// A frame at the loop's output: intents and vetoes go back to the agent that decided.
    pub fn on_output(&mut self, now_ns: u64, frame: &FrameBuf) {
        match frame.decode() {
            Ok(FrameRef::OrderIntent(f)) => self.on_intent(f.payload),
            Ok(FrameRef::RiskVerdict(f)) => self.on_verdict(now_ns, f.payload),
            _ => {}
        }
    }

    fn on_intent(&mut self, intent: &OrderIntent) {
        let owner = decision_maker(intent.decision_id.get());
        match owner {
            DecisionMaker::NeuralArb => {
                let Some(arb) = &mut self.arb else { return };
                arb.agent.on_intent(intent);
            }
            DecisionMaker::LiquidityFlow(parent) => {
                let Some(slot) = self.flows.iter_mut().find(|s| s.parent == parent) else { return };
                slot.flow.on_intent(intent);
            }
            _ => return,
        }
        self.owned.push(OwnedIntent { intent_id: intent.intent_id.get(), owner });
    }

    fn on_verdict(&mut self, now_ns: u64, verdict: &RiskVerdict) {
        match decision_maker(verdict.decision_id.get()) {
            DecisionMaker::NeuralArb => {
                if let Some(arb) = &mut self.arb {
                    arb.agent.on_verdict(now_ns, verdict);
                }
            }
            DecisionMaker::LiquidityFlow(parent) => {
                if let Some(slot) = self.flows.iter_mut().find(|s| s.parent == parent) {
                    slot.flow.on_verdict(now_ns, verdict);
                    if let Some(desk) = &mut self.guardian {
                        desk.summary.child_vetoes += 1;
                    }
                }
            }
            _ => {}
        }
    }

    /// An execution report from the venue: to the agent whose intent it is, if one here.
    pub fn on_exec_report(&mut self, now_ns: u64, report: &ExecReport) {
        let intent_id = report.intent_id.get();
        let Some(at) = self.owned.iter().position(|o| o.intent_id == intent_id) else { return };
        let owner = self.owned[at].owner;
        let (status, last) = (ExecStatus::from_wire(report.status), report.last_qty.get());
        if report.is_terminal() {
            self.owned.swap_remove(at);
        }
        match owner {
            DecisionMaker::NeuralArb => {
                if let Some(arb) = &mut self.arb {
                    arb.agent.on_exec_report(now_ns, report, &mut arb.out);
                    Self::take_arb(arb, self.origin, &mut self.sequence, &mut self.decisions);
                }
            }
            DecisionMaker::LiquidityFlow(parent) => {
                let Some(slot) = self.flows.iter_mut().find(|s| s.parent == parent) else { return };
                if matches!(status, Some(ExecStatus::PartiallyFilled | ExecStatus::Filled))
                    && let Some(desk) = &mut self.guardian
                {
                    desk.positions[slot.asset_index] += slot.sign * last;
                }
                let mut actions = FlowActions::default();
                slot.flow.on_exec_report(now_ns, report, &mut actions);
                if slot.abandoned {
                    // No new child for an abandoned parent.
                    actions = FlowActions::default();
                }
                Self::take_flow(actions, self.origin, &mut self.sequence, &mut self.decisions, &mut self.cancels);
            }
            _ => {}
        }
        self.retire_flows();
    }

    /// Decisions made since the last call, oldest first, as frames for the Confirm step.
    pub fn take_decisions(&mut self) -> std::vec::Drain<'_, FrameBuf> {
        self.decisions.drain(..)
    }

    /// Guardian's parent orders since the last call, for the loop's output.
    pub fn take_parents(&mut self) -> std::vec::Drain<'_, FrameBuf> {
        self.parents.drain(..)
    }

    /// Intents to cancel at the venue since the last call.
    pub fn take_cancels(&mut self) -> std::vec::Drain<'_, u64> {
        self.cancels.drain(..)
    }

    /// Whether decisions or cancels are waiting to be taken.
    pub fn has_work(&self) -> bool {
        !self.decisions.is_empty() || !self.cancels.is_empty() || !self.parents.is_empty()
    }

    pub fn summary(&self) -> PortfolioSummary {
        PortfolioSummary {
            arb: self.arb.as_ref().map(|arb| ArbSummary {
                near: arb.near,
                far: arb.far,
                stats: arb.agent.stats(),
                positions: arb.agent.positions(),
                refused_quotes: arb.refused_quotes,
            }),
            guardian: self.guardian.as_ref().map(|desk| {
                let mut summary = desk.summary.clone();
                summary.stats = desk.guardian.stats();
                summary.positions = desk.assets.iter().copied().zip(desk.positions.iter().copied()).collect();
                // Parents still working count as they stand.
                let (mut sum, mut n) = (desk.shortfall_sum, desk.shortfall_n);
                for slot in &self.flows {
                    let s = slot.flow.summary();
                    summary.children += s.children;
                    summary.filled_lots += s.filled_lots;
                    if s.filled_lots > 0 {
                        sum += s.shortfall_bp;
                        n += 1;
                    }
                }
                summary.mean_shortfall_bp = if n > 0 { sum / n as f64 } else { 0.0 };
                summary
            }),
        }
    }

    fn take_arb(arb: &mut ArbDesk, origin: u32, sequence: &mut u64, decisions: &mut Vec<FrameBuf>) {
        for decision in arb.out.iter() {
            *sequence += 1;
            decisions.push(FrameBuf::encode(origin, *sequence, decision));
        }
        arb.out.clear();
    }

    fn take_flow(
        actions: FlowActions,
        origin: u32,
        sequence: &mut u64,
        decisions: &mut Vec<FrameBuf>,
        cancels: &mut Vec<u64>,
    ) {
        if let Some(decision) = actions.decision {
            *sequence += 1;
            decisions.push(FrameBuf::encode(origin, *sequence, &decision));
        }
        if let Some(intent_id) = actions.cancel {
            cancels.push(intent_id);
        }
    }

    /// Time-driven work: parents past their deadline, Guardian's samples and rebalances.
    fn on_time(&mut self, now_ns: u64) {
        for slot in self.flows.iter_mut().filter(|slot| !slot.abandoned && now_ns >= slot.deadline_ns) {
            slot.abandoned = true;
            if let Some(desk) = &mut self.guardian {
                desk.summary.parents_abandoned += 1;
            }
            let parent = slot.parent;
            self.cancels.extend(
                self.owned.iter().filter(|o| o.owner == DecisionMaker::LiquidityFlow(parent)).map(|o| o.intent_id),
            );
        }
        self.retire_flows();
        let Some(desk) = &mut self.guardian else { return };
        desk.sample(now_ns);
        // One rebalance at a time: the next waits until the last one's parents are done.
        if now_ns < desk.next_rebalance_ns || desk.rows < desk.window || !self.flows.is_empty() {
            return;
        }
        desk.next_rebalance_ns = now_ns.saturating_add(desk.rebalance_ns);
        let Some(returns) = desk.returns_window() else { return };
        let tick = RebalanceTick {
            returns: &returns,
            positions_lots: &desk.positions,
            prices: &desk.mids,
            book_value: Some(desk.book_value),
        };
        if desk.guardian.on_event(AgentContext { now_ns }, &tick, &mut desk.outbox).is_err() {
            desk.summary.errors += 1;
        }
        let mut orders = Vec::new();
        desk.outbox.drain_into(|frame| {
            if let Ok(FrameRef::Decision(f)) = frame.decode() {
                orders.push(*f.payload);
            }
            self.parents.push(frame);
            Ok(())
        });
        for decision in orders {
            let Some(side) = decision.side() else { continue };
            let Some(asset_index) = desk.assets.iter().position(|a| *a == decision.asset()) else { continue };
            let parent_number = self.next_parent;
            let duration_ns = desk.work.duration_ms().saturating_mul(1_000_000);
            let parent = ParentOrder {
                asset: decision.asset(),
                side,
                qty_lots: decision.qty.get(),
                // RiskSentinel's collar bounds the children's prices.
                limit_price: None,
                start_ns: now_ns,
                end_ns: now_ns.saturating_add(duration_ns),
                algo: match desk.work {
                    WorkConfig::Twap { slices, .. } => Algo::Twap { slices },
                    WorkConfig::Pov { rate_bp, .. } => Algo::Pov { rate_bp },
                },
            };
            let max_child = (i128::from(parent.qty_lots) * i128::from(desk.max_child_bp) / 10_000).max(1) as i64;
            let config = FlowConfig {
                max_child_lots: max_child,
                pov_tolerance_lots: max_child,
                first_decision_id: FLOW_DECISION_IDS + (parent_number << FLOW_PARENT_SHIFT),
                ..FlowConfig::new(parent)
            };
            match LiquidityFlow::new(config) {
                Ok(flow) => {
                    self.next_parent += 1;
                    desk.summary.parents += 1;
                    self.flows.push(FlowSlot {
                        parent: parent_number,
                        flow,
                        asset_index,
                        sign: side.sign(),
                        deadline_ns: now_ns.saturating_add(duration_ns.saturating_mul(2)),
                        abandoned: false,
                    });
                }
                Err(err) => {
                    desk.summary.errors += 1;
                    tracing::warn!(error = %err, "guardian: a rebalance trade LiquidityFlow cannot work");
                }
            }
        }
    }

    /// Parents that are done, or abandoned with nothing left working, leave the book of flows.
    fn retire_flows(&mut self) {
        let owned = &self.owned;
        let Some(desk) = &mut self.guardian else { return };
        self.flows.retain(|slot| {
            let summary = slot.flow.summary();
            let working = owned.iter().any(|o| o.owner == DecisionMaker::LiquidityFlow(slot.parent));
            let retire = (summary.done || slot.abandoned) && !working;
            if retire {
                desk.summary.parents_done += u64::from(summary.done);
                desk.summary.children += summary.children;
                desk.summary.filled_lots += summary.filled_lots;
                if summary.filled_lots > 0 {
                    desk.shortfall_sum += summary.shortfall_bp;
                    desk.shortfall_n += 1;
                }
            }
            !retire
        });
    }
}

impl GuardianDesk {
    /// At each sample time, a row of returns of the mids since the last sample.
    fn sample(&mut self, now_ns: u64) {
        if now_ns < self.next_sample_ns || self.mids.contains(&0) {
            return;
        }
        self.next_sample_ns = now_ns.saturating_add(self.sample_ns);
        if !self.sampled.contains(&0) {
            let n = self.assets.len();
            let row = &mut self.returns[self.head * n..(self.head + 1) * n];
            for ((r, mid), last) in row.iter_mut().zip(&self.mids).zip(&self.sampled) {
                *r = *mid as f64 / *last as f64 - 1.0;
            }
            self.head = (self.head + 1) % self.window;
            self.rows = (self.rows + 1).min(self.window);
        }
        self.sampled.copy_from_slice(&self.mids);
    }

    /// The full window, oldest row first (a rebalance is rare: this allocates).
    fn returns_window(&self) -> Option<ReturnMatrix> {
        let n = self.assets.len();
        let mut values = Vec::with_capacity(self.window * n);
        values.extend_from_slice(&self.returns[self.head * n..]);
        values.extend_from_slice(&self.returns[..self.head * n]);
        ReturnMatrix::new(self.window, n, values).ok()
    }
}

fn asset_of(config: &LoopConfig, assets: &[AssetId], symbol: &str, key: &'static str) -> Result<usize, PortfolioError> {
    let index = config.assets.iter().position(|a| a.symbol == symbol).ok_or(PortfolioError::UnknownAsset(key))?;
    assets.get(index).map(|_| index).ok_or(PortfolioError::UnknownAsset(key))
}

fn arb_desk(config: &LoopConfig, arb: &ArbLoopConfig, assets: &[AssetId]) -> Result<ArbDesk, PortfolioError> {
    let leg = |index: usize| -> Result<LegConfig, PortfolioError> {
        let asset = &config.assets[index];
        let clip = qp_replay::parse_fixed(&arb.clip, asset.qty_decimals)?;
        // Validated 0..=9 with the configuration.
        Ok(LegConfig {
            asset: assets[index],
            price_decimals: asset.price_decimals as u8,
            clip_lots: clip,
            max_order_lots: clip,
        })
    };
    let (near, far) = (asset_of(config, assets, &arb.near, "near")?, asset_of(config, assets, &arb.far, "far")?);
    let arb_config = ArbConfig {
        near: leg(near)?,
        far: leg(far)?,
        hedge: HedgeRatio::Fixed(1.0),
        sample_interval_ns: arb.sample_ms.saturating_mul(1_000_000),
        window: arb.window,
        entry_z: arb.entry_z,
        exit_z: arb.exit_z,
        max_clips: arb.max_clips,
        cooldown_ns: arb.cooldown_ms.saturating_mul(1_000_000),
        aggressiveness_ticks: 0,
        min_std: arb.min_std,
        retry_ns: 100_000_000,
        first_decision_id: ARB_DECISION_IDS,
        origin_node: config.node.origin_node,
    };
    Ok(ArbDesk {
        agent: NeuralArb::new(arb_config)?,
        out: ArbDecisions::default(),
        near: assets[near],
        far: assets[far],
        refused_quotes: 0,
    })
}

fn guardian_desk(
    config: &LoopConfig,
    guardian: &GuardianLoopConfig,
    assets: &[AssetId],
) -> Result<GuardianDesk, PortfolioError> {
    let guarded = config
        .assets
        .iter()
        .zip(assets)
        .map(|(a, id)| GuardedAsset {
            asset: *id,
            // Validated 0..=9 with the configuration.
            price_decimals: a.price_decimals as u8,
            qty_decimals: a.qty_decimals as u8,
            lot_size: 1,
        })
        .collect();
    let agent = Guardian::new(&GuardianConfig {
        assets: guarded,
        min_trade_bp: guardian.min_trade_bp,
        limit_offset_bp: 10,
        max_orders_per_tick: OUTBOX_CAPACITY.min(assets.len().max(1)),
        origin_node: config.node.origin_node,
        first_decision_id: GUARDIAN_DECISION_IDS,
    })?;
    let n = assets.len();
    Ok(GuardianDesk {
        guardian: agent,
        assets: assets.to_vec(),
        book_value: guardian.book_value,
        work: guardian.work,
        max_child_bp: guardian.max_child_bp,
        sample_ns: guardian.sample_ms.saturating_mul(1_000_000),
        next_sample_ns: 0,
        rebalance_ns: guardian.rebalance_ms.saturating_mul(1_000_000),
        next_rebalance_ns: 0,
        mids: vec![0; n],
        sampled: vec![0; n],
        returns: vec![0.0; guardian.window * n],
        window: guardian.window,
        rows: 0,
        head: 0,
        positions: vec![0; n],
        outbox: Outbox::new("guardian"),
        summary: GuardianSummary::default(),
        shortfall_sum: 0.0,
        shortfall_n: 0,
    })
}
