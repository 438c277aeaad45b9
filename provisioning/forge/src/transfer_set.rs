//! The transfer set: a generated corpus of finance headlines and posts that the
//! transformer teacher soft-labels, so the SentimentX student sees what the
//! teacher knows. The style follows financial tweets and wire headlines
//! (cashtags, `$TK - ` prefixes, analyst actions, earnings, guidance, macro).
//!
//! Generation is deterministic: [`generate`] draws from its own SplitMix64
//! generator and static tables only, so the same `(count, seed)` gives the same
//! texts in the same order on every machine.

/// Longest text generated, in characters.
pub const MAX_CHARS: usize = 280;

/// Deterministic: same (count, seed) → same texts, same order, on every machine
/// (own SplitMix64 PRNG; no rand crate, no HashMap iteration).
pub fn generate(count: usize, seed: u64) -> Vec<String> {
    let mut rng = SplitMix64::new(seed);
    let mut out = Vec::with_capacity(count);
    let mut buf = String::with_capacity(MAX_CHARS * 2);
    for _ in 0..count {
        one_text(&mut rng, &mut buf);
        out.push(buf.clone());
    }
    out
}

/// The companies (name, ticker) the generator uses; the alias table must cover them.
pub fn companies() -> &'static [(&'static str, &'static str)] {
    COMPANIES
}

// ---------------------------------------------------------------------------
// PRNG

/// The project's SplitMix64 (`qp_models`), with the draws templates need.
#[derive(Debug, Clone)]
struct SplitMix64(qp_models::SplitMix64);

impl SplitMix64 {
    fn new(seed: u64) -> Self {
        Self(qp_models::SplitMix64::new(seed ^ 0x5EED_F0E5_7A11_0C8D))
    }

    /// Uniform in `0..n` (0 when `n == 0`), from the draw's high bits.
    fn below(&mut self, n: usize) -> usize {
        self.0.below_multiply_shift(n)
    }

    /// Uniform in `[0, 1)`.
    fn unit(&mut self) -> f64 {
        self.0.uniform()
    }

    fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// Uniform in `[lo, hi)`.
    fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }

    /// Uniform integer in `lo..=hi`.
    fn int(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below((hi - lo + 1) as usize) as u64
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items.get(self.below(items.len())).copied().unwrap_or("")
    }
}

// ---------------------------------------------------------------------------
// Templates

/// A family of templates. `pool` restricts `{co}` (and `{co2}`, `{co3}`) to
/// those tickers; empty means any company.
struct Family {
    weight: u32,
    pool: &'static [&'static str],
    templates: &'static [&'static str],
}

const ANALYST: &[&str] = &[
    "{broker} upgrades {co} to {up}",
    "{co} upgraded to {up} at {broker}",
    "{co} upgraded to {up} from {neutral} at {broker}; PT {pt_hi}",
    "{broker} raises {co} to {up}, sees {pct} upside",
    "{broker} upgrades {co} to {up} on {tailwind}",
    "{co} gains a bull: {broker} turns positive, PT {pt_hi}",
    "{broker} turns bullish on {co}, citing {tailwind}",
    "{co} downgraded to {down} at {broker}",
    "{co} downgraded to {neutral} at {broker} on valuation",
    "{broker} downgrades {co} to {down}, cuts PT to {pt_lo}",
    "{broker} cuts {co} to {neutral} on {headwind}",
    "{co} cut to {down} at {broker} on {headwind}",
    "{co} loses a bull as {broker} moves to the sidelines",
    "{co} double-downgraded to {down} at {broker}",
    "{broker} initiates {co} at {up} with {pt} target",
    "{broker} initiates coverage of {co} with {down} rating",
    "{broker} starts {co} at {neutral}, PT {pt}",
    "{broker} initiates {co} at {neutral}, sees balanced risk/reward",
    "{broker} reiterates {up} on {co}, calls it a top pick for {year}",
    "{broker} reiterates {neutral} rating on {co}",
    "{broker} reiterates {down} on {co}, sees {pct} downside",
    "{broker} raises {co} price target to {pt_hi} from {pt_lo}",
    "{co} price target raised to {pt_hi} from {pt_lo} at {broker}",
    "{broker} lifts PT on {co} to {pt_hi}, keeps {up}",
    "{broker} bumps {co} target to {pt_hi} ahead of {quarter} results",
    "{broker} cuts {co} price target to {pt_lo} from {pt_hi}",
    "{broker} slashes PT on {co} to {pt_lo}, citing {headwind}",
    "{co} PT lowered to {pt_lo} at {broker}",
    "{co} PT trimmed to {pt_lo} from {pt_hi} at {broker}; {neutral} reiterated",
    "{broker} reels in expectations on {co}",
    "{broker} points to {headwind} at {co}",
    "{broker} sees {tailwind} lifting {co}",
    "{broker} is no longer bullish on {co}, moves to {neutral}",
    "{broker} says {co} selloff is overdone, reiterates {up}",
    "{broker} warns on {co} ahead of earnings",
    "{broker} sees more downside for {co}",
    "{broker} shies away from {co} after the rally, downgrades to {neutral}",
    "{broker} does not expect {co} to recover before {year}",
    "{co} may have more room to run, says {broker}",
    "{co} could fall another {pct}, {broker} warns",
    "{co} could rally {bigpct}, {broker} says in bull case",
    "{broker} adds {co} to conviction buy list",
    "{broker} removes {co} from its conviction list",
    "{broker} resumes coverage of {co} at {neutral}",
    "{broker} upgrades {co}, downgrades {co2}",
    "{broker} prefers {co} over {co2} heading into {year}",
    "{broker}: {co} is not a buy here despite the dip",
    "{broker} fails to see a catalyst for {co}, stays {neutral}",
    "{broker} says {co} estimates look too high",
    "{broker} says {co} estimates look too low, lifts target",
    "{co} upgrade: {broker} says the worst is over",
    "{co} downgrade: {broker} says the easy money has been made",
    "{broker} sees {co} beating {quarter} estimates",
    "Analysts split on {co} after {broker} cut",
    "${tk}: {broker} cuts to {neutral}",
    "${tk}: {broker} raises to {up}",
    "${tk}: {broker} downgrades to {down}, PT {pt_lo}",
    "${tk} - {co} slides after {broker} PT cut",
    "${tk} - {co} rises after {broker} upgrade",
    "${tk} ${tk2} - {broker} points to {headwind} at {co} and {co2}",
    "${tk} - {broker} is no longer a buyer of {co} at these levels",
];

const EARNINGS: &[&str] = &[
    "{co} beats {quarter} estimates, raises full-year guidance",
    "{co} {quarter} EPS {eps_hi} beats {eps_lo} estimate; revenue {rev_hi} vs. {rev_lo} expected",
    "{co} reports {quarter} EPS of {eps_hi}, consensus {eps_lo}",
    "{co} {quarter} EPS {eps_lo} misses {eps_hi} estimate",
    "{co} {quarter} revenue {rev_lo} misses {rev_hi} consensus",
    "{co} misses on {quarter} earnings as {headwind} bites",
    "{co} {quarter} revenue misses, shares fall {pct} after hours",
    "{co} shares jump {pct} after earnings beat",
    "{co} shares tumble {pct} after guidance cut",
    "{co} cuts {year} outlook, citing {headwind}",
    "{co} raises {year} revenue forecast on {tailwind}",
    "{co} raises guidance for the second time this year",
    "{co} reaffirms full-year guidance",
    "{co} maintains {year} outlook, in line with expectations",
    "{co} fails to meet {quarter} profit estimates",
    "{co} posts surprise {quarter} loss",
    "{co} swings to {quarter} profit, beating forecasts",
    "{co} profit falls {pct} as {headwind} weighs",
    "{co} quarterly profit rises {pct}, tops estimates",
    "{co} revenue growth slows to {pct}, misses forecasts",
    "{co} no longer expects margin expansion this year",
    "{co} warns of {headwind}, shares slide {pct}",
    "{co} earnings preview: what to expect in {quarter}",
    "{co} {hedge} miss {quarter} estimates on {headwind}, analysts say",
    "{co} {hedge} beat estimates thanks to {tailwind}",
    "Analysts expect {co} to report {quarter} EPS of {eps_lo}",
    "{co} beats on the top line but misses on EPS",
    "{co} {quarter} results in line; guidance unchanged",
    "{co} delivers record {quarter} revenue of {rev_hi}",
    "{co} same-store sales fall {pct}, missing estimates",
    "{co} comparable sales rise {pct}, beating estimates",
    "{co} guides {quarter} revenue below consensus",
    "{co} guidance tops Street view; stock up {pct}",
    "{co} is not expected to raise guidance, analysts say",
    "{co} margins shrink to {pct} as costs climb",
    "{co} gross margin expands to {bigpct}, best in years",
    "{co} sees {year} EPS {eps_lo} to {eps_hi}, below estimates",
    "{co} sees {year} EPS {eps_lo} to {eps_hi}, above estimates",
    "{co} reports {quarter} EPS {eps_hi}, in line; revenue {rev_hi}",
    "{co} earnings disappoint; CEO blames {headwind}",
    "{co} earnings blow past expectations on {tailwind}",
    "{co} stock sinks as {quarter} outlook falls short",
    "{co} rallies as {quarter} numbers ease worries about {headwind}",
    "{co} {quarter}: beat and raise",
    "{co} {quarter}: miss and lower",
    "{co} shares flat after mixed {quarter} results",
    "{co} free cash flow falls short of forecasts",
    "{co} orders backlog hits record {rev_hi}",
];

const CORPORATE: &[&str] = &[
    "{co} to acquire {co2} for {bigamount}",
    "{co} agrees to buy {co2} in {bigamount} deal",
    "{co} {hedge} explore sale of its {unit} unit",
    "{co} in talks to buy {co2}{attrib}",
    "{co} reportedly weighs bid for {co2}",
    "{co} walks away from {co2} deal",
    "{co} deal for {co2} blocked by regulators",
    "{co2} rejects {co} takeover offer as too low",
    "{co} shareholders approve {co2} merger",
    "Regulators {hedge} block {co}'s {bigamount} bid for {co2}",
    "{co} to spin off {unit} business",
    "{co} could sell {unit} unit for up to {bigamount}{attrib}",
    "{co} announces {amount} share buyback",
    "{co} boosts buyback by {amount}",
    "{co} raises quarterly dividend by {pct}",
    "{co} cuts dividend to preserve cash",
    "{co} suspends dividend amid {headwind}",
    "{co} suspends buyback as {headwind} weighs",
    "{co} to cut {jobs} jobs",
    "{co} to lay off {pct} of workforce",
    "{co} {hedge} cut jobs as demand slows",
    "{co} is not planning layoffs, CEO says",
    "{co} freezes hiring amid {headwind}",
    "{co} sued by {regulator} over {issue}",
    "{co} faces class action over {issue} claims",
    "{co} wins dismissal of {issue} lawsuit",
    "{co} settles {issue} probe for {amount}",
    "{co} fined {amount} by {regulator}",
    "{regulator} opens probe into {co}",
    "{regulator} closes probe into {co} without action",
    "{co} under investigation for {issue}, report says",
    "{co} CEO steps down unexpectedly",
    "{co} {exec} resigns; shares fall {pct}",
    "{co} names new CEO, shares rise",
    "{co} CEO to retire at year-end; succession plan in place",
    "{co} shakes up leadership after weak quarter",
    "{co} unveils new {product}",
    "{co} wins {amount} contract from {customer}",
    "{co} loses key contract with {customer}",
    "{co} halts production at {place} plant",
    "{co} hit by cyberattack, some systems down",
    "{agency} cuts {co} to junk",
    "{agency} upgrades {co} credit rating",
    "{agency} revises {co} outlook to negative",
    "{co} raises {amount} in bond sale",
    "{co} prices {amount} stock offering; shares slip",
    "{co} denies report it is exploring bankruptcy",
    "{co} added to {index}",
    "{co} to be removed from {index}",
    "{co} shares surge {pct} to record high",
    "{co} stock slumps {pct}, worst day since {year}",
    "{co} hits 52-week low",
    "{co} hits all-time high as {tailwind} story gains traction",
    "{co} extends rally for a {nth} session",
    "{co} falls for a {nth} straight day",
    "Why {co} stock is down today",
    "Why {co} shares are soaring today",
    "{co} and {co2} lead {index} gainers",
    "{co} drags on {index} after {headwind} warning",
    "{co} short interest climbs to {pct} of float",
    "Activist investor builds stake in {co}, pushes for changes",
    "{co} fails to win {customer} contract",
    "{co} scraps plans for {place} plant",
    "{co} to invest {bigamount} in {place} expansion",
    "{co} is said to weigh job cuts in {unit} unit",
    "{co} no longer plans to spin off {unit} business",
    "{co} reportedly in early talks with {co2} on partnership",
    "{co} and {co2} announce strategic partnership",
    "{co} recalls products over safety concerns",
    "{co} stock halted pending news",
    "{co} insiders sell {amount} of shares",
    "{co} CEO buys {amount} of stock",
];

const PHARMA: &[&str] = &[
    "FDA approves {co} {drug} for {disease}",
    "{co} wins FDA approval for {disease} drug",
    "FDA rejects {co}'s {disease} treatment",
    "FDA declines to approve {co} {drug}, asks for more data",
    "{co} {disease} trial meets primary endpoint",
    "{co} {disease} trial fails to meet main goal",
    "{co} halts {disease} study after safety concerns",
    "{co} {drug} shows promise in late-stage {disease} trial",
    "{co} could win FDA nod for {disease} {drug} by {month}, analysts expect",
    "FDA advisers vote against {co}'s {disease} {drug}",
    "EU regulator backs {co} {disease} drug",
    "{co} recalls batches of {disease} drug",
    "{co} {disease} data disappoint; shares drop {pct}",
    "{co} to buy biotech for {bigamount} to bolster {disease} pipeline",
    "{co} {drug} sales top estimates",
    "{co} warns of generic competition for {disease} drug",
];

const AUTOS: &[&str] = &[
    "{co} recalls {units} vehicles over {defect}",
    "{co} EV deliveries rise {pct}",
    "{co} deliveries miss estimates",
    "{co} quarterly deliveries beat expectations",
    "{co} cuts EV production targets",
    "{co} halts production at {place} plant on chip shortage",
    "{co} reaches deal with union; strike ends",
    "{co} workers vote to strike",
    "{co} China sales slump {pct}",
    "{co} cuts prices on electric models again",
    "{co} US sales rise {pct} in {quarter}",
];

const AIRLINES: &[&str] = &[
    "{co} cuts capacity as demand softens",
    "{co} sees record summer travel demand",
    "{co} raises fare outlook",
    "{co} grounds flights after IT outage",
    "{co} pilots reach tentative deal",
    "{co} warns fuel costs will hit margins",
    "{co} flight cancellations pile up amid storms",
    "{co} traffic rises {pct} in {month}",
];

const BANKS: &[&str] = &[
    "{co} sets aside {amount} for loan losses",
    "{co} trading revenue jumps {pct}",
    "{co} net interest income beats estimates",
    "{co} to pay {amount} to settle {issue} probe",
    "{co} passes Fed stress test, raises dividend",
    "{co} deposit outflows ease",
    "{co} investment banking fees slump {pct}",
    "{co} investment banking fees rebound {pct}",
    "{co} warns net interest income will fall",
    "{co} boosts capital return plans",
];

const CHIPS: &[&str] = &[
    "{co} sees AI chip demand outstripping supply",
    "{co} hit by new US export curbs on China",
    "{co} warns of inventory correction",
    "{co} to build {bigamount} fab in {place}",
    "{co} data center revenue soars {bigpct}",
    "{co} PC chip sales fall {pct}",
    "{co} sees memory prices recovering in {quarter}",
];

const ENERGY: &[&str] = &[
    "{co} to boost output as oil prices climb",
    "{co} writes down {amount} in assets",
    "{co} refining margins slump",
    "{co} makes major discovery off {place}",
    "{co} profit falls {pct} on lower crude prices",
    "{co} scales back green spending, boosts oil investment",
];

const RETAIL: &[&str] = &[
    "{co} holiday sales disappoint",
    "{co} sees strong back-to-school demand",
    "{co} to close {stores} stores",
    "{co} inventory levels improve",
    "{co} warns shoppers are pulling back",
    "{co} online sales jump {pct}",
];

const TECH: &[&str] = &[
    "{co} cloud revenue growth accelerates to {bigpct}",
    "{co} faces EU antitrust fine of {bigamount}",
    "{co} hit by outage affecting millions of users",
    "{co} launches AI assistant",
    "{co} user growth stalls",
    "{co} ad revenue beats estimates",
    "{co} boosts AI capex to {bigamount}",
];

const CRYPTO_CO: &[&str] = &[
    "{co} adds more Bitcoin to balance sheet",
    "{co} shares track Bitcoin higher",
    "{co} slides as crypto prices tumble",
    "{co} trading volumes surge as Bitcoin rallies",
    "{co} sued by SEC over unregistered securities",
];

const DEFENSE: &[&str] = &[
    "{co} wins {bigamount} Pentagon contract",
    "{co} shares climb as European defence budgets rise",
    "{co} faces delays on key {customer} program",
    "{co} raises outlook on record defense orders",
    "{co} takes {amount} charge on fixed-price contracts",
];

const MINING: &[&str] = &[
    "{co} output falls {pct} on weather disruptions",
    "{co} raises production guidance as copper prices climb",
    "{co} profit slides as iron ore prices weaken",
    "{co} to buy copper assets for {bigamount}",
    "{co} mine in {place} halted after accident",
];

const MEDIA: &[&str] = &[
    "{co} streaming subscribers top estimates",
    "{co} loses subscribers after price hike",
    "{co} box office slump weighs on results",
    "{co} in talks over sports rights deal{attrib}",
];

const INDUSTRIAL: &[&str] = &[
    "{co} orders rise {pct} as factory demand recovers",
    "{co} warns of weaker demand in {place}",
    "{co} freight volumes decline {pct}",
    "{co} raises margin targets at investor day",
    "{co} hit by strike at {place} plant",
];

const STAPLES: &[&str] = &[
    "{co} raises prices again as volumes hold up",
    "{co} volumes fall as shoppers trade down",
    "{co} organic sales growth beats at {pct}",
    "{co} cuts sales outlook on weak {place} demand",
];

const TELECOM: &[&str] = &[
    "{co} adds more wireless subscribers than expected",
    "{co} loses postpaid phone customers",
    "{co} to sell towers for {bigamount}",
    "{co} network outage hits customers nationwide",
];

const TRAVEL: &[&str] = &[
    "{co} bookings hit record as travel demand holds",
    "{co} warns of softer bookings in {place}",
    "{co} raises full-year outlook on strong travel demand",
    "{co} shares sink as pricing weakens",
];

const FINANCIALS: &[&str] = &[
    "{co} card spending rises {pct}",
    "{co} assets under management hit record",
    "{co} sees slower payments volume growth",
    "{co} faces DOJ antitrust suit over debit fees",
    "{co} posts record net inflows",
];

const UTILITIES: &[&str] = &[
    "{co} raises renewables investment to {bigamount}",
    "{co} profit beats as power prices rise",
    "{co} cuts guidance after regulatory setback",
];

const HEALTH: &[&str] = &[
    "{co} medical costs run higher than expected",
    "{co} cuts outlook as medical costs climb",
    "{co} reaffirms outlook, shares recover",
    "{co} under DOJ investigation over billing{attrib}",
];

const MACRO: &[&str] = &[
    "Fed holds rates steady, signals {n} cuts this year",
    "Fed raises rates by {bps}, signals more hikes",
    "Fed cuts rates by {bps} as inflation cools",
    "Fed's {fedname} says more rate hikes may be needed",
    "Fed's {fedname}: no rush to cut rates",
    "Fed's {fedname} says rate cuts could come soon",
    "Fed minutes show officials wary of cutting too soon",
    "Powell says Fed is not yet confident inflation is beaten",
    "US CPI rises {cpi} y/y in {month}, hotter than expected",
    "US inflation cools to {cpi} in {month}, below forecasts",
    "Core PCE comes in at {cpi}, in line with estimates",
    "US economy adds {jobs_k} jobs in {month}, beating forecasts",
    "Nonfarm payrolls miss: {jobs_k} jobs added in {month}",
    "US jobless claims rise to highest since {year}",
    "Unemployment rate unexpectedly falls to {unemp}",
    "Unemployment rate climbs to {unemp}, highest since {year}",
    "US GDP grows {gdp} in {quarter}, beating estimates",
    "US economy contracts in {quarter}, stoking recession fears",
    "Retail sales slump {smallpct} in {month}",
    "Retail sales rise {smallpct} in {month}, topping forecasts",
    "ECB raises rates by {bps}, signals pause",
    "ECB leaves rates unchanged; Lagarde says fight is not over",
    "ECB cuts rates by {bps}, first move since {year}",
    "Bank of England cuts rates for the first time since {year}",
    "Bank of England holds rates at {yield}",
    "BOJ sticks to ultra-easy policy; yen slides",
    "BOJ hikes rates, yen jumps",
    "PBOC cuts reserve requirement ratio to support growth",
    "Oil jumps {pct} as OPEC+ extends output cuts",
    "Oil slumps {pct} on demand worries, Brent at {oilp}",
    "Crude oil falls to {oilp}, lowest since {year}",
    "Oil prices climb to {oilp} as Middle East tensions flare",
    "Oil steady near {oilp} ahead of OPEC+ meeting",
    "Gold hits record high above {goldp} an ounce",
    "Gold slips as dollar firms, Treasury yields rise",
    "Spot gold steady at {goldp} ahead of Fed decision",
    "10-year Treasury yield jumps to {yield}, highest since {year}",
    "Treasury yields tumble as traders bet on rate cuts",
    "10-year yield little changed at {yield}",
    "Dollar index slides to {n}-month low",
    "Dollar rallies to {n}-month high as Fed pushes back on cuts",
    "EUR/USD drops to {fxrate} as ECB turns dovish",
    "Euro climbs to {fxrate} against the dollar",
    "Yen weakens past {yenlvl} per dollar, intervention risk grows",
    "Stocks rally as inflation data eases rate fears",
    "Stocks slump as bond yields surge",
    "Wall Street ends higher, S&P 500 notches record close",
    "Dow drops {dowpts} points as recession fears mount",
    "Dow jumps {dowpts} points on {macro_hope}",
    "Nasdaq jumps {pct} led by tech",
    "Nasdaq slides {pct} as {macro_worry} hit growth stocks",
    "Stock futures are flat ahead of {month} jobs report",
    "Global markets sell off on {macro_worry}",
    "{region} rally on {macro_hope}",
    "{region} slide as {macro_worry} weigh",
    "{region} end little changed ahead of central bank decisions",
    "{region} fall for a {nth} straight session",
    "{region} could extend gains as {macro_hope} build, strategists say",
    "{sector} surge after upbeat outlook from {co}",
    "{sector} tumble on {macro_worry}",
    "{sector} {hedge} extend gains, strategists say",
    "{sector} are not out of the woods yet, {broker} warns",
    "{broker} turns bullish on {sector}",
    "{broker} downgrades {sector} to underweight",
    "{broker} sees {region} outperforming in {year}",
    "Investors pull {bigamount} from {region} funds",
    "Investors pour {bigamount} into {sector} as {macro_hope} grow",
    "{sector} lag as {macro_worry} dent sentiment",
    "{sector} lead gains in {region}",
    "{sector} drag {region} lower",
    "China's economy grows {gdp}, missing estimates",
    "China factory activity contracts for a {nth} straight month",
    "Eurozone inflation eases to {cpi}",
    "German economy shrinks in {quarter}",
    "UK inflation unexpectedly rises to {cpi}",
    "Recession risk is rising, {broker} economists warn",
    "Soft landing is still likely, {broker} says",
    "US debt ceiling deal reached, averting default",
    "Trade tensions flare as US weighs new tariffs on China",
    "VIX spikes to highest level since {year}",
    "Markets {hedge} stay volatile until the Fed's {month} meeting",
    "Rate-cut hopes fade after hot {month} data",
];

const CRYPTO: &[&str] = &[
    "Bitcoin jumps {pct} to {btcp}",
    "Bitcoin slides below {btcp} as ETF outflows mount",
    "Bitcoin climbs above {btcp} for first time since {month}",
    "Ethereum rallies {pct} after network upgrade",
    "Ether falls {pct} as SEC delays ETF decision",
    "Ethereum drops to {ethp}, lowest since {year}",
    "ETH reclaims {ethp} as staking inflows hit record",
    "Bitcoin could hit {btcp} by year-end, {broker} says",
    "Bitcoin may not hold {btcp} support, traders warn",
    "Crypto market loses {bigamount} as Bitcoin tumbles {pct}",
    "BTC reclaims {btcp}, shorts liquidated",
    "Bitcoin ETFs see {amount} of inflows in a day",
    "Bitcoin ETFs bleed {amount} as investors retreat",
    "Bitcoin steady near {btcp} ahead of Fed decision",
    "Bitcoin fails to break {btcp} resistance",
    "Ethereum is no longer the second-best performer, lagging rivals",
    "Bitcoin halving is priced in, analysts say",
    "BTC/USD flat at {btcp}; ETH/USD at {ethp}",
];

const NEUTRAL: &[&str] = &[
    "{co} to report {quarter} earnings on {month} {day}",
    "{co} to present at {conf} on {month} {day}",
    "{co} declares quarterly dividend of {div} per share",
    "{co} declares regular dividend of {div}, unchanged from prior quarter",
    "{co} declares dividend as expected",
    "Stocks making the biggest moves premarket: {co}, {co2}, {co3} and more",
    "Stocks making the biggest moves midday: {co}, {co2} and more",
    "Stocks making the biggest moves after hours: {co}, {co2}, {co3}",
    "{co} to join {index}, replacing {co2}",
    "{co} CEO to speak at {conf}",
    "Interview: {co} {exec} on {topic}",
    "{co} {exec} discusses {topic} in interview",
    "{co} annual shareholder meeting set for {month} {day}",
    "{co} files quarterly report",
    "{co} completes previously announced acquisition",
    "{co} to hold investor day on {month} {day}",
    "{co} prices {amount} notes offering",
    "{co} announces {quarter} earnings release date",
    "{co} shares unchanged in premarket trading",
    "{co} stock: key levels to watch this week",
    "Here's what to watch in {co} earnings",
    "Options traders eye {co} ahead of results",
    "Fed's {fedname} to speak on economic outlook",
    "US CPI data due on {month} {day}; what to expect",
    "Earnings calendar: {co}, {co2} and {co3} report this week",
    "{month} jobs report due Friday",
    "US markets closed for {holiday}",
    "{co} sets date for {quarter} conference call",
    "{co} appoints new board member",
    "{co} to webcast presentation at {conf}",
    "{co} files 8-K on executive compensation",
    "{index} quarterly rebalance takes effect on {month} {day}",
    "{co} and {co2} to report results next week",
    "{co} stock split takes effect on {month} {day}",
    "{co} renews credit facility",
    "{co} opens new office in {place}",
    "Week ahead: Fed decision, CPI data and earnings from {co}",
    "{co} {exec} to present at {conf}",
    "{co} confirms {quarter} results date, no change to guidance",
];

const FAMILIES: &[Family] = &[
    Family { weight: 20, pool: &[], templates: ANALYST },
    Family { weight: 17, pool: &[], templates: EARNINGS },
    Family { weight: 16, pool: &[], templates: CORPORATE },
    Family { weight: 3, pool: POOL_PHARMA, templates: PHARMA },
    Family { weight: 2, pool: POOL_AUTO, templates: AUTOS },
    Family { weight: 1, pool: POOL_AIRLINE, templates: AIRLINES },
    Family { weight: 2, pool: POOL_BANK, templates: BANKS },
    Family { weight: 2, pool: POOL_CHIP, templates: CHIPS },
    Family { weight: 1, pool: POOL_ENERGY, templates: ENERGY },
    Family { weight: 1, pool: POOL_RETAIL, templates: RETAIL },
    Family { weight: 2, pool: POOL_TECH, templates: TECH },
    Family { weight: 1, pool: POOL_CRYPTO, templates: CRYPTO_CO },
    Family { weight: 1, pool: POOL_DEFENSE, templates: DEFENSE },
    Family { weight: 1, pool: POOL_MINING, templates: MINING },
    Family { weight: 1, pool: POOL_MEDIA, templates: MEDIA },
    Family { weight: 1, pool: POOL_INDUSTRIAL, templates: INDUSTRIAL },
    Family { weight: 1, pool: POOL_STAPLES, templates: STAPLES },
    Family { weight: 1, pool: POOL_TELECOM, templates: TELECOM },
    Family { weight: 1, pool: POOL_TRAVEL, templates: TRAVEL },
    Family { weight: 1, pool: POOL_FIN, templates: FINANCIALS },
    Family { weight: 1, pool: POOL_UTILITY, templates: UTILITIES },
    Family { weight: 1, pool: POOL_HEALTH, templates: HEALTH },
    Family { weight: 15, pool: &[], templates: MACRO },
    Family { weight: 5, pool: &[], templates: CRYPTO },
    Family { weight: 12, pool: &[], templates: NEUTRAL },
];

// ---------------------------------------------------------------------------
// Slot values

const BROKERS: &[&str] = &[
    "Goldman Sachs",
    "JPMorgan",
    "Morgan Stanley",
    "UBS",
    "Barclays",
    "Jefferies",
    "Citi",
    "BofA",
    "Bank of America",
    "Wells Fargo",
    "Deutsche Bank",
    "HSBC",
    "Bernstein",
    "Evercore ISI",
    "Piper Sandler",
    "Raymond James",
    "RBC Capital",
    "Mizuho",
    "Nomura",
    "KeyBanc",
    "Wedbush",
    "Oppenheimer",
    "Needham",
    "TD Cowen",
    "BTIG",
    "Stifel",
    "Baird",
    "Truist",
    "Loop Capital",
    "Rosenblatt",
    "Berenberg",
    "Macquarie",
    "Redburn",
    "Exane BNP Paribas",
    "Kepler Cheuvreux",
    "Daiwa",
    "CLSA",
    "Guggenheim",
    "Cantor Fitzgerald",
    "Wolfe Research",
    "Morningstar",
    "Argus",
    "Benchmark",
    "DA Davidson",
    "William Blair",
    "Bernstein SocGen",
    "Erste Group",
    "Citigroup",
];
const UP: &[&str] =
    &["Buy", "Outperform", "Overweight", "Strong Buy", "Market Outperform", "Accumulate", "Sector Outperform", "Add"];
const DOWN: &[&str] = &["Sell", "Underperform", "Underweight", "Reduce", "Strong Sell", "Sector Underperform"];
const NEUTRAL_RATINGS: &[&str] =
    &["Neutral", "Hold", "Equal Weight", "Market Perform", "Sector Perform", "In Line", "Peer Perform", "Equal-Weight"];
const HEDGES: &[&str] = &[
    "may",
    "could",
    "is expected to",
    "is said to",
    "is reportedly set to",
    "is likely to",
    "plans to",
    "is poised to",
    "might",
    "is seen likely to",
];
const ATTRIB: &[&str] = &[
    ", sources say",
    ", report says",
    ", people familiar say",
    " - report",
    ", per Bloomberg",
    ", WSJ reports",
    ", according to people familiar with the matter",
    ", sources tell Reuters",
];
const HEADWINDS: &[&str] = &[
    "weak demand",
    "margin pressure",
    "rising costs",
    "an inventory glut",
    "slowing growth",
    "regulatory risk",
    "tariff exposure",
    "softer bookings",
    "pricing pressure",
    "a tough consumer backdrop",
    "FX headwinds",
    "slower cloud growth",
    "higher capex",
    "China weakness",
    "elevated competition",
    "supply chain issues",
    "weaker ad spending",
    "higher interest rates",
    "credit losses",
    "labor costs",
];
const TAILWINDS: &[&str] = &[
    "strong demand",
    "AI demand",
    "margin expansion",
    "pricing power",
    "a cyclical recovery",
    "market share gains",
    "cost cuts",
    "accelerating growth",
    "robust bookings",
    "easing input costs",
    "new product momentum",
    "a strong backlog",
    "buyback support",
    "improving credit trends",
    "subscriber growth",
];
const UNITS: &[&str] = &[
    "cloud",
    "consumer health",
    "media",
    "chip design",
    "trucking",
    "insurance",
    "asset management",
    "payments",
    "advertising",
    "streaming",
    "logistics",
    "retail banking",
    "medical devices",
    "software",
    "energy trading",
];
const REGULATORS: &[&str] = &[
    "the SEC",
    "the DOJ",
    "the FTC",
    "EU regulators",
    "the CFTC",
    "the UK's CMA",
    "Chinese regulators",
    "the European Commission",
    "state attorneys general",
    "the CFPB",
];
const ISSUES: &[&str] = &[
    "antitrust",
    "privacy",
    "accounting",
    "securities fraud",
    "patent infringement",
    "price-fixing",
    "bribery",
    "data breach",
    "emissions",
    "labor practices",
    "money laundering",
    "disclosure",
];
const EXECS: &[&str] = &["CEO", "CFO", "COO", "chairman", "chief technology officer", "president"];
const FED_NAMES: &[&str] = &[
    "Powell",
    "Waller",
    "Williams",
    "Bostic",
    "Daly",
    "Goolsbee",
    "Logan",
    "Kashkari",
    "Barkin",
    "Jefferson",
    "Bowman",
    "Musalem",
    "Hammack",
];
const BPS: &[&str] =
    &["25 basis points", "50 basis points", "a quarter point", "half a point", "75 bps", "25 bps", "50 bps"];
const MONTHS: &[&str] = &[
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const REGIONS: &[&str] = &[
    "European stocks",
    "European shares",
    "Asian stocks",
    "Asian markets",
    "emerging markets",
    "emerging market stocks",
    "Chinese stocks",
    "Hong Kong stocks",
    "Japanese stocks",
    "Indian stocks",
    "UK stocks",
    "European equities",
    "EM assets",
    "small caps",
];
const SECTORS: &[&str] = &[
    "European banks",
    "euro zone banks",
    "eurozone lenders",
    "US banks",
    "regional banks",
    "chipmakers",
    "chip stocks",
    "semiconductor stocks",
    "oil majors",
    "energy stocks",
    "airline stocks",
    "airlines",
    "automakers",
    "carmakers",
    "tech stocks",
    "big tech",
    "megacap tech",
    "drugmakers",
    "biotech stocks",
    "retailers",
    "miners",
    "mining stocks",
    "defense stocks",
    "European defence stocks",
    "travel stocks",
    "cruise lines",
    "homebuilders",
    "utilities",
    "crypto stocks",
    "bitcoin miners",
    "gold miners",
    "EV makers",
];
const MACRO_WORRIES: &[&str] = &[
    "China growth worries",
    "tariff fears",
    "rising bond yields",
    "recession fears",
    "a stronger dollar",
    "hawkish Fed comments",
    "geopolitical tensions",
    "weak earnings",
    "sticky inflation",
    "credit concerns",
];
const MACRO_HOPES: &[&str] = &[
    "stimulus hopes",
    "rate-cut bets",
    "cooling inflation",
    "upbeat earnings",
    "trade deal optimism",
    "soft-landing hopes",
    "strong jobs data",
    "easing bond yields",
];
const NTH: &[&str] = &["second", "third", "fourth", "fifth", "sixth", "seventh"];
const DRUGS: &[&str] = &[
    "experimental drug",
    "lead candidate",
    "once-weekly injection",
    "gene therapy",
    "vaccine candidate",
    "oral pill",
    "antibody therapy",
    "cell therapy",
    "combination therapy",
];
const DISEASES: &[&str] = &[
    "obesity",
    "Alzheimer's",
    "breast cancer",
    "lung cancer",
    "diabetes",
    "RSV",
    "migraine",
    "psoriasis",
    "heart failure",
    "hemophilia",
    "multiple sclerosis",
    "leukemia",
    "COVID-19",
    "sickle cell disease",
];
const DEFECTS: &[&str] = &[
    "faulty airbags",
    "a brake issue",
    "fire risk",
    "a software glitch",
    "seat belt defects",
    "steering problems",
    "battery fire risk",
    "a fuel pump defect",
];
const PLACES: &[&str] = &[
    "Texas",
    "Ohio",
    "Germany",
    "Mexico",
    "China",
    "Arizona",
    "Poland",
    "India",
    "Japan",
    "South Korea",
    "the UK",
    "Brazil",
    "Guyana",
    "Norway",
    "Vietnam",
    "Ireland",
    "Singapore",
];
const INDEXES: &[&str] =
    &["S&P 500", "Nasdaq-100", "the Dow", "S&P MidCap 400", "Euro Stoxx 50", "MSCI World Index", "DAX", "CAC 40"];
const CONFS: &[&str] = &[
    "Goldman Sachs Communacopia conference",
    "JPMorgan Healthcare Conference",
    "Morgan Stanley TMT conference",
    "CES",
    "Bernstein Strategic Decisions Conference",
    "Barclays Global Technology Conference",
    "UBS Global Industrials conference",
    "Davos",
    "the Milken Conference",
    "Citi Global Tech conference",
];
const TOPICS: &[&str] = &[
    "AI strategy",
    "pricing",
    "China exposure",
    "capital returns",
    "the demand outlook",
    "supply chains",
    "tariffs",
    "succession planning",
    "the consumer",
    "cost discipline",
];
const PRODUCTS: &[&str] = &[
    "AI chip",
    "smartphone lineup",
    "electric SUV",
    "streaming tier",
    "cloud service",
    "AI assistant",
    "weight-loss drug",
    "credit card",
    "data center platform",
    "gaming console",
    "subscription bundle",
];
const CUSTOMERS: &[&str] = &[
    "the Pentagon",
    "the US Army",
    "a major cloud provider",
    "Saudi Aramco",
    "NASA",
    "the UK government",
    "a large US retailer",
    "the German government",
    "a Japanese automaker",
];
const AGENCIES: &[&str] = &["Moody's", "S&P Global Ratings", "Fitch"];
const HOLIDAYS: &[&str] =
    &["Presidents' Day", "Good Friday", "Memorial Day", "Juneteenth", "Independence Day", "Labor Day", "Thanksgiving"];
const SOURCES: &[&str] = &[
    " - Reuters",
    " | Bloomberg",
    " (Reuters)",
    " - CNBC",
    " - MarketWatch",
    " - WSJ",
    " via @business",
    " - Seeking Alpha",
    " - Benzinga",
    " - Barron's",
    " - FT",
    " | Yahoo Finance",
    " - Investing.com",
    " (Bloomberg)",
];
const TAGS: &[&str] =
    &["BREAKING: ", "JUST IN: ", "UPDATE 1-", "UPDATE 2-", "RPT-", "*", "WATCH: ", "Report: ", "Rumor: "];
const LINK_CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

// ---------------------------------------------------------------------------
// Filling

/// Per-text choices that several slots share: the companies, the broker, and
/// number pairs whose order matters (a raised target ends above where it began).
struct Ctx {
    pool: &'static [&'static str],
    co: [Option<usize>; 3],
    broker: Option<&'static str>,
    pt: Option<(f64, f64)>,
    eps: Option<(f64, f64)>,
    rev: Option<(f64, f64)>,
}

impl Ctx {
    fn new(pool: &'static [&'static str]) -> Self {
        Self { pool, co: [None; 3], broker: None, pt: None, eps: None, rev: None }
    }

    /// Company `i` (0, 1, 2) of this text, distinct from the others.
    fn company(&mut self, i: usize, rng: &mut SplitMix64) -> usize {
        if let Some(c) = self.co[i] {
            return c;
        }
        let chosen = self.co.iter().flatten().count();
        let pool = if self.pool.len() > chosen { self.pool } else { &[] };
        let mut pick = 0;
        for _ in 0..16 {
            pick = if pool.is_empty() { rng.below(COMPANIES.len()) } else { company_index(rng.pick(pool)) };
            if !self.co.contains(&Some(pick)) {
                break;
            }
        }
        self.co[i] = Some(pick);
        pick
    }

    /// A broker that is not the company itself (JPMorgan does not rate JPMorgan Chase).
    fn broker(&mut self, rng: &mut SplitMix64) -> &'static str {
        if let Some(b) = self.broker {
            return b;
        }
        let mut pick = rng.pick(BROKERS);
        for _ in 0..16 {
            let first = pick.split(' ').next().unwrap_or(pick);
            let clash = self.co.iter().flatten().any(|&c| COMPANIES[c].0.split(' ').next() == Some(first));
            if !clash {
                break;
            }
            pick = rng.pick(BROKERS);
        }
        self.broker = Some(pick);
        pick
    }

    fn pt(&mut self, rng: &mut SplitMix64) -> (f64, f64) {
        *self.pt.get_or_insert_with(|| {
            let lo = (rng.range(3.0, 6.8)).exp().round();
            let hi = (lo * rng.range(1.04, 1.4)).round().max(lo + 1.0);
            (lo, hi)
        })
    }

    fn eps(&mut self, rng: &mut SplitMix64) -> (f64, f64) {
        *self.eps.get_or_insert_with(|| {
            let lo = rng.range(0.05, 9.5);
            (lo, lo + rng.range(0.01, 0.25 + lo * 0.1))
        })
    }

    fn rev(&mut self, rng: &mut SplitMix64) -> (f64, f64) {
        *self.rev.get_or_insert_with(|| {
            let lo = rng.range(-1.0, 4.6).exp();
            (lo, lo * rng.range(1.005, 1.08))
        })
    }
}

/// Index in [`COMPANIES`] of `ticker` (0 if absent; the tests check every pool resolves).
fn company_index(ticker: &str) -> usize {
    COMPANIES.iter().position(|(_, t)| *t == ticker).unwrap_or(0)
}

/// `1234567` → `1,234,567`.
fn push_thousands(out: &mut String, n: u64) {
    let digits = n.to_string();
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
}

fn push_pct(out: &mut String, rng: &mut SplitMix64, lo: f64, hi: f64) {
    use std::fmt::Write as _;
    let v = rng.range(lo, hi);
    if v >= 10.0 && rng.chance(0.4) {
        let _ = write!(out, "{v:.0}%");
    } else {
        let _ = write!(out, "{v:.1}%");
    }
}

/// A dollar amount in millions (`m`), as `$1.2B`, `$1.2 billion`, `$450M`, `$450 million`.
fn push_dollars_m(out: &mut String, rng: &mut SplitMix64, m: f64) {
    use std::fmt::Write as _;
    let long = rng.chance(0.4);
    if m >= 1000.0 {
        let b = m / 1000.0;
        let digits = if b >= 20.0 { 0 } else { 1 };
        let _ = write!(out, "${b:.digits$}{}", if long { " billion" } else { "B" });
    } else {
        let _ = write!(out, "${m:.0}{}", if long { " million" } else { "M" });
    }
}

fn push_money(out: &mut String, v: f64, cents: bool) {
    use std::fmt::Write as _;
    if cents {
        let _ = write!(out, "${v:.2}");
    } else {
        out.push('$');
        push_thousands(out, v.round() as u64);
    }
}

/// Appends the value of slot `name`; false for an unknown slot.
fn fill_slot(name: &str, rng: &mut SplitMix64, ctx: &mut Ctx, out: &mut String) -> bool {
    use std::fmt::Write as _;
    match name {
        "co" | "co2" | "co3" => {
            let i = match name {
                "co" => 0,
                "co2" => 1,
                _ => 2,
            };
            let c = ctx.company(i, rng);
            out.push_str(COMPANIES[c].0);
        }
        "tk" | "tk2" | "tk3" => {
            let i = match name {
                "tk" => 0,
                "tk2" => 1,
                _ => 2,
            };
            let c = ctx.company(i, rng);
            out.push_str(COMPANIES[c].1);
        }
        "broker" => out.push_str(ctx.broker(rng)),
        "up" => out.push_str(rng.pick(UP)),
        "down" => out.push_str(rng.pick(DOWN)),
        "neutral" => out.push_str(rng.pick(NEUTRAL_RATINGS)),
        "pt" => {
            let (lo, _) = ctx.pt(rng);
            push_money(out, lo, false);
        }
        "pt_lo" => {
            let (lo, _) = ctx.pt(rng);
            push_money(out, lo, false);
        }
        "pt_hi" => {
            let (_, hi) = ctx.pt(rng);
            push_money(out, hi, false);
        }
        "eps_lo" => {
            let (lo, _) = ctx.eps(rng);
            push_money(out, lo, true);
        }
        "eps_hi" => {
            let (_, hi) = ctx.eps(rng);
            push_money(out, hi, true);
        }
        "rev_lo" => {
            let (lo, _) = ctx.rev(rng);
            let _ = write!(out, "${lo:.2}B");
        }
        "rev_hi" => {
            let (_, hi) = ctx.rev(rng);
            let _ = write!(out, "${hi:.2}B");
        }
        "pct" => push_pct(out, rng, 0.3, 14.0),
        "bigpct" => push_pct(out, rng, 12.0, 65.0),
        "smallpct" => push_pct(out, rng, 0.1, 2.5),
        "amount" => {
            let m = rng.range(3.0, 10.0).exp();
            push_dollars_m(out, rng, m);
        }
        "bigamount" => {
            let m = rng.range(6.9, 11.4).exp();
            push_dollars_m(out, rng, m);
        }
        "quarter" => {
            let q = rng.int(1, 4);
            match rng.below(10) {
                0 => {
                    let _ = write!(out, "fiscal Q{q}");
                }
                1 => {
                    out.push_str(["first-quarter", "second-quarter", "third-quarter", "fourth-quarter"][q as usize - 1])
                }
                2 => {
                    let _ = write!(out, "Q{q} {}", rng.int(2019, 2026));
                }
                _ => {
                    let _ = write!(out, "Q{q}");
                }
            }
        }
        "year" => {
            let _ = write!(out, "{}", rng.int(2015, 2026));
        }
        "month" => out.push_str(rng.pick(MONTHS)),
        "day" => {
            let _ = write!(out, "{}", rng.int(1, 28));
        }
        "region" => out.push_str(rng.pick(REGIONS)),
        "sector" => out.push_str(rng.pick(SECTORS)),
        "hedge" => out.push_str(rng.pick(HEDGES)),
        "attrib" => out.push_str(rng.pick(ATTRIB)),
        "headwind" => out.push_str(rng.pick(HEADWINDS)),
        "tailwind" => out.push_str(rng.pick(TAILWINDS)),
        "unit" => out.push_str(rng.pick(UNITS)),
        "regulator" => out.push_str(rng.pick(REGULATORS)),
        "issue" => out.push_str(rng.pick(ISSUES)),
        "exec" => out.push_str(rng.pick(EXECS)),
        "fedname" => out.push_str(rng.pick(FED_NAMES)),
        "bps" => out.push_str(rng.pick(BPS)),
        "cpi" => push_pct(out, rng, 1.2, 9.1),
        "gdp" => push_pct(out, rng, 0.4, 5.8),
        "unemp" => push_pct(out, rng, 3.4, 6.2),
        "yield" => {
            let _ = write!(out, "{:.2}%", rng.range(3.1, 5.3));
        }
        "jobs" => {
            let n = rng.int(2, 160) * if rng.chance(0.6) { 100 } else { 50 };
            push_thousands(out, n);
        }
        "jobs_k" => {
            let n = rng.int(12, 420);
            if rng.chance(0.5) {
                let _ = write!(out, "{n}K");
            } else {
                push_thousands(out, n * 1000);
            }
        }
        "oilp" => {
            let _ = write!(out, "${:.2}", rng.range(55.0, 122.0));
        }
        "goldp" => {
            out.push('$');
            push_thousands(out, rng.int(1700, 3500));
        }
        "btcp" => {
            out.push('$');
            let v = rng.int(20, 112);
            if rng.chance(0.3) {
                let _ = write!(out, "{v}K");
            } else {
                push_thousands(out, v * 1000 + rng.int(0, 9) * 100);
            }
        }
        "ethp" => {
            out.push('$');
            push_thousands(out, rng.int(900, 4900));
        }
        "div" => {
            let _ = write!(out, "${:.2}", rng.range(0.05, 2.6));
        }
        "fxrate" => {
            let _ = write!(out, "{:.4}", rng.range(0.98, 1.21));
        }
        "yenlvl" => {
            let _ = write!(out, "{}", rng.int(128, 162));
        }
        "dowpts" => push_thousands(out, rng.int(120, 1300)),
        "n" => {
            let _ = write!(out, "{}", rng.int(2, 6));
        }
        "nth" => out.push_str(rng.pick(NTH)),
        "stores" => {
            let _ = write!(out, "{}", rng.int(12, 900));
        }
        "units" => push_thousands(out, rng.int(2, 2400) * 1000 + rng.int(0, 9) * 100),
        "macro_worry" => out.push_str(rng.pick(MACRO_WORRIES)),
        "macro_hope" => out.push_str(rng.pick(MACRO_HOPES)),
        "drug" => out.push_str(rng.pick(DRUGS)),
        "disease" => out.push_str(rng.pick(DISEASES)),
        "defect" => out.push_str(rng.pick(DEFECTS)),
        "place" => out.push_str(rng.pick(PLACES)),
        "index" => out.push_str(rng.pick(INDEXES)),
        "conf" => out.push_str(rng.pick(CONFS)),
        "topic" => out.push_str(rng.pick(TOPICS)),
        "product" => out.push_str(rng.pick(PRODUCTS)),
        "customer" => out.push_str(rng.pick(CUSTOMERS)),
        "agency" => out.push_str(rng.pick(AGENCIES)),
        "holiday" => out.push_str(rng.pick(HOLIDAYS)),
        _ => return false,
    }
    true
}

/// Fills `template` into `out` (appending). Unknown slots stay as written.
fn fill(template: &str, rng: &mut SplitMix64, ctx: &mut Ctx, out: &mut String) {
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let Some(close) = after.find('}') else {
            out.push_str(&rest[open..]);
            return;
        };
        let name = &after[..close];
        if !fill_slot(name, rng, ctx, out) {
            out.push('{');
            out.push_str(name);
            out.push('}');
        }
        rest = &after[close + 1..];
    }
    out.push_str(rest);
}

fn pick_family(rng: &mut SplitMix64) -> &'static Family {
    let total: u32 = FAMILIES.iter().map(|f| f.weight).sum();
    let mut x = rng.below(total as usize) as u32;
    for family in FAMILIES {
        if x < family.weight {
            return family;
        }
        x -= family.weight;
    }
    &FAMILIES[0]
}

/// Cuts `text` to at most [`MAX_CHARS`] characters, at a word boundary where one exists.
fn clamp(text: &mut String) {
    if text.chars().count() <= MAX_CHARS {
        return;
    }
    let limit = text.char_indices().nth(MAX_CHARS).map_or(text.len(), |(i, _)| i);
    let cut = text[..limit].rfind(' ').filter(|&i| i > 0).unwrap_or(limit);
    text.truncate(cut);
    let trimmed = text.trim_end_matches([' ', ',', ';', ':', '-', '|']).len();
    text.truncate(trimmed);
}

/// One text into `buf` (cleared first).
fn one_text(rng: &mut SplitMix64, buf: &mut String) {
    buf.clear();
    let family = pick_family(rng);
    let template = rng.pick(family.templates);
    let mut ctx = Ctx::new(family.pool);
    let mut body = String::with_capacity(160);
    fill(template, rng, &mut ctx, &mut body);

    let primary = ctx.co[0].map(|c| COMPANIES[c]);
    let mut cashtag_inside = false;
    // Leading cashtag(s) or a wire tag.
    if let Some((name, ticker)) = primary.filter(|_| !body.starts_with('$')) {
        if rng.chance(0.32) {
            buf.push('$');
            buf.push_str(ticker);
            if let Some(c2) = ctx.co[1].filter(|_| rng.chance(0.3)) {
                buf.push_str(" $");
                buf.push_str(COMPANIES[c2].1);
            }
            buf.push_str(match rng.below(4) {
                0 => ": ",
                1 => " ",
                _ => " - ",
            });
        } else if rng.chance(0.12) {
            // The cashtag stands in for the name inside the text.
            if let Some(at) = body.find(name) {
                body.replace_range(at..at + name.len(), &format!("${ticker}"));
                cashtag_inside = true;
            }
        } else if rng.chance(0.06) {
            buf.push_str(rng.pick(TAGS));
        }
    } else if rng.chance(0.07) {
        buf.push_str(rng.pick(TAGS));
    }
    buf.push_str(&body);
    if let Some((_, ticker)) = primary
        && !cashtag_inside
        && !body.starts_with('$')
        && rng.chance(0.08)
    {
        buf.push_str(" $");
        buf.push_str(ticker);
    }
    if rng.chance(0.05) && !body.contains(" say") && !body.contains("report") {
        buf.push_str(rng.pick(ATTRIB));
    }
    if rng.chance(0.18) {
        buf.push_str(rng.pick(SOURCES));
    }
    if rng.chance(0.04) {
        *buf = buf.to_lowercase();
    }
    if rng.chance(0.5) {
        buf.push_str(" https://t.co/");
        for _ in 0..10 {
            buf.push(char::from(LINK_CHARS[rng.below(LINK_CHARS.len())]));
        }
    }
    clamp(buf);
    if buf.is_empty() {
        buf.push_str("Stocks are little changed");
    }
}

// ---------------------------------------------------------------------------
// Companies (name, ticker); every one is in agents/sentiment/data/aliases.toml.

const COMPANIES: &[(&str, &str)] = &[
    ("Apple", "AAPL"),
    ("Microsoft", "MSFT"),
    ("Amazon", "AMZN"),
    ("Alphabet", "GOOGL"),
    ("Meta Platforms", "META"),
    ("Nvidia", "NVDA"),
    ("Tesla", "TSLA"),
    ("Netflix", "NFLX"),
    ("Oracle", "ORCL"),
    ("Salesforce", "CRM"),
    ("Adobe", "ADBE"),
    ("IBM", "IBM"),
    ("Cisco", "CSCO"),
    ("Intel", "INTC"),
    ("AMD", "AMD"),
    ("Broadcom", "AVGO"),
    ("Qualcomm", "QCOM"),
    ("Micron", "MU"),
    ("Texas Instruments", "TXN"),
    ("Applied Materials", "AMAT"),
    ("Lam Research", "LRCX"),
    ("KLA Corp", "KLAC"),
    ("Marvell Technology", "MRVL"),
    ("Arm Holdings", "ARM"),
    ("Super Micro Computer", "SMCI"),
    ("ASML", "ASML"),
    ("TSMC", "TSM"),
    ("Samsung Electronics", "SSNLF"),
    ("Infineon", "IFNNY"),
    ("STMicroelectronics", "STM"),
    ("SAP", "SAP"),
    ("Palantir", "PLTR"),
    ("Snowflake", "SNOW"),
    ("CrowdStrike", "CRWD"),
    ("Palo Alto Networks", "PANW"),
    ("Fortinet", "FTNT"),
    ("Intuit", "INTU"),
    ("Shopify", "SHOP"),
    ("Spotify", "SPOT"),
    ("Uber", "UBER"),
    ("Lyft", "LYFT"),
    ("Airbnb", "ABNB"),
    ("Booking Holdings", "BKNG"),
    ("Expedia", "EXPE"),
    ("Zoom Video", "ZM"),
    ("DocuSign", "DOCU"),
    ("Dell Technologies", "DELL"),
    ("HP Inc", "HPQ"),
    ("Snap Inc", "SNAP"),
    ("Pinterest", "PINS"),
    ("PayPal", "PYPL"),
    ("Visa Inc", "V"),
    ("Mastercard", "MA"),
    ("American Express", "AXP"),
    ("JPMorgan Chase", "JPM"),
    ("Bank of America", "BAC"),
    ("Citigroup", "C"),
    ("Wells Fargo", "WFC"),
    ("Goldman Sachs", "GS"),
    ("Morgan Stanley", "MS"),
    ("BlackRock", "BLK"),
    ("Charles Schwab", "SCHW"),
    ("Berkshire Hathaway", "BRK.B"),
    ("Coinbase", "COIN"),
    ("MicroStrategy", "MSTR"),
    ("Robinhood", "HOOD"),
    ("Royal Bank of Canada", "RY"),
    ("Deutsche Bank", "DB"),
    ("Commerzbank", "CRZBY"),
    ("BNP Paribas", "BNPQY"),
    ("Societe Generale", "SCGLY"),
    ("Banco Santander", "SAN"),
    ("BBVA", "BBVA"),
    ("UniCredit", "UNCRY"),
    ("Intesa Sanpaolo", "ISNPY"),
    ("ING Groep", "ING"),
    ("HSBC", "HSBC"),
    ("Barclays", "BCS"),
    ("Lloyds Banking Group", "LYG"),
    ("NatWest", "NWG"),
    ("UBS", "UBS"),
    ("Mitsubishi UFJ", "MUFG"),
    ("HDFC Bank", "HDB"),
    ("Allianz", "ALIZY"),
    ("AXA", "AXAHY"),
    ("Pfizer", "PFE"),
    ("Moderna", "MRNA"),
    ("Johnson & Johnson", "JNJ"),
    ("Merck", "MRK"),
    ("Eli Lilly", "LLY"),
    ("AbbVie", "ABBV"),
    ("Bristol-Myers Squibb", "BMY"),
    ("Amgen", "AMGN"),
    ("Gilead", "GILD"),
    ("Biogen", "BIIB"),
    ("Regeneron", "REGN"),
    ("Vertex Pharmaceuticals", "VRTX"),
    ("BioNTech", "BNTX"),
    ("AstraZeneca", "AZN"),
    ("Novartis", "NVS"),
    ("Roche", "RHHBY"),
    ("Sanofi", "SNY"),
    ("GSK", "GSK"),
    ("Novo Nordisk", "NVO"),
    ("Bayer", "BAYRY"),
    ("UnitedHealth", "UNH"),
    ("CVS Health", "CVS"),
    ("Walgreens", "WBA"),
    ("Walmart", "WMT"),
    ("Costco", "COST"),
    ("Target Corp", "TGT"),
    ("Home Depot", "HD"),
    ("Nike", "NKE"),
    ("Starbucks", "SBUX"),
    ("McDonald's", "MCD"),
    ("Coca-Cola", "KO"),
    ("PepsiCo", "PEP"),
    ("Procter & Gamble", "PG"),
    ("Nestle", "NSRGY"),
    ("Unilever", "UL"),
    ("Heineken", "HEINY"),
    ("Diageo", "DEO"),
    ("AB InBev", "BUD"),
    ("LVMH", "LVMUY"),
    ("Kering", "PPRUY"),
    ("Adidas", "ADDYY"),
    ("Beyond Meat", "BYND"),
    ("Disney", "DIS"),
    ("Comcast", "CMCSA"),
    ("Verizon", "VZ"),
    ("AT&T", "T"),
    ("T-Mobile US", "TMUS"),
    ("Vodafone", "VOD"),
    ("Deutsche Telekom", "DTEGY"),
    ("Nokia", "NOK"),
    ("Ericsson", "ERIC"),
    ("Boeing", "BA"),
    ("Airbus", "EADSY"),
    ("Lockheed Martin", "LMT"),
    ("RTX Corp", "RTX"),
    ("Northrop Grumman", "NOC"),
    ("Rheinmetall", "RNMBY"),
    ("Rolls-Royce", "RYCEY"),
    ("General Electric", "GE"),
    ("Honeywell", "HON"),
    ("3M", "MMM"),
    ("Caterpillar", "CAT"),
    ("Deere & Co", "DE"),
    ("Siemens", "SIEGY"),
    ("FedEx", "FDX"),
    ("UPS", "UPS"),
    ("Ford Motor", "F"),
    ("General Motors", "GM"),
    ("Stellantis", "STLA"),
    ("Toyota", "TM"),
    ("Honda Motor", "HMC"),
    ("Volkswagen", "VWAGY"),
    ("BMW", "BMWYY"),
    ("Mercedes-Benz", "MBGYY"),
    ("Ferrari", "RACE"),
    ("Renault", "RNLSY"),
    ("Rivian", "RIVN"),
    ("Lucid Group", "LCID"),
    ("NIO", "NIO"),
    ("BYD", "BYDDY"),
    ("Hyundai Motor", "HYMTF"),
    ("Delta Air Lines", "DAL"),
    ("United Airlines", "UAL"),
    ("American Airlines", "AAL"),
    ("Southwest Airlines", "LUV"),
    ("Lufthansa", "DLAKY"),
    ("Air France-KLM", "AFLYY"),
    ("Ryanair", "RYAAY"),
    ("easyJet", "ESYJY"),
    ("Carnival Corp", "CCL"),
    ("Royal Caribbean", "RCL"),
    ("Exxon Mobil", "XOM"),
    ("Chevron", "CVX"),
    ("ConocoPhillips", "COP"),
    ("Occidental Petroleum", "OXY"),
    ("Schlumberger", "SLB"),
    ("Halliburton", "HAL"),
    ("BP", "BP"),
    ("TotalEnergies", "TTE"),
    ("Equinor", "EQNR"),
    ("Petrobras", "PBR"),
    ("Rio Tinto", "RIO"),
    ("BHP", "BHP"),
    ("Glencore", "GLNCY"),
    ("Vale", "VALE"),
    ("Newmont", "NEM"),
    ("Freeport-McMoRan", "FCX"),
    ("BASF", "BASFY"),
    ("Enel", "ENLAY"),
    ("Iberdrola", "IBDRY"),
    ("NextEra Energy", "NEE"),
    ("Alibaba", "BABA"),
    ("Tencent", "TCEHY"),
    ("Baidu", "BIDU"),
    ("JD.com", "JD"),
    ("PDD Holdings", "PDD"),
    ("Xiaomi", "XIACY"),
    ("Sony", "SONY"),
    ("Nintendo", "NTDOY"),
    ("SoftBank", "SFTBY"),
    ("Infosys", "INFY"),
    ("Reliance Industries", "RELIANCE.NS"),
    ("Sea Ltd", "SE"),
    ("Grab Holdings", "GRAB"),
    ("Hitachi", "HTHIY"),
    ("Panasonic", "PCRFY"),
    ("Fast Retailing", "FRCOY"),
    ("GameStop", "GME"),
    ("AMC Entertainment", "AMC"),
    ("Peloton", "PTON"),
    ("Warner Bros. Discovery", "WBD"),
    ("Paramount Global", "PARA"),
    ("Philips", "PHG"),
    ("British American Tobacco", "BTI"),
    ("Zalando", "ZLNDY"),
];
const POOL_AIRLINE: &[&str] = &["DAL", "UAL", "AAL", "LUV", "DLAKY", "AFLYY", "RYAAY", "ESYJY"];
const POOL_AUTO: &[&str] = &[
    "TSLA", "F", "GM", "STLA", "TM", "HMC", "VWAGY", "BMWYY", "MBGYY", "RACE", "RNLSY", "RIVN", "LCID", "NIO", "BYDDY",
    "HYMTF",
];
const POOL_BANK: &[&str] = &[
    "JPM", "BAC", "C", "WFC", "GS", "MS", "RY", "DB", "CRZBY", "BNPQY", "SCGLY", "SAN", "BBVA", "UNCRY", "ISNPY",
    "ING", "HSBC", "BCS", "LYG", "NWG", "UBS", "MUFG", "HDB",
];
const POOL_CHIP: &[&str] = &[
    "NVDA", "INTC", "AMD", "AVGO", "QCOM", "MU", "TXN", "AMAT", "LRCX", "KLAC", "MRVL", "ARM", "ASML", "TSM", "SSNLF",
    "IFNNY", "STM",
];
const POOL_CRYPTO: &[&str] = &["COIN", "MSTR", "HOOD"];
const POOL_DEFENSE: &[&str] = &["BA", "EADSY", "LMT", "RTX", "NOC", "RNMBY", "RYCEY"];
const POOL_ENERGY: &[&str] = &["XOM", "CVX", "COP", "OXY", "SLB", "HAL", "BP", "TTE", "EQNR", "PBR", "RELIANCE.NS"];
const POOL_FIN: &[&str] = &["V", "MA", "AXP", "BLK", "SCHW", "BRK.B", "ALIZY", "AXAHY"];
const POOL_HEALTH: &[&str] = &["UNH", "CVS", "PHG"];
const POOL_INDUSTRIAL: &[&str] = &["GE", "HON", "MMM", "CAT", "DE", "SIEGY", "FDX", "UPS", "BASFY", "HTHIY"];
const POOL_MEDIA: &[&str] = &["DIS", "CMCSA", "AMC", "WBD", "PARA"];
const POOL_MINING: &[&str] = &["RIO", "BHP", "GLNCY", "VALE", "NEM", "FCX"];
const POOL_PHARMA: &[&str] = &[
    "PFE", "MRNA", "JNJ", "MRK", "LLY", "ABBV", "BMY", "AMGN", "GILD", "BIIB", "REGN", "VRTX", "BNTX", "AZN", "NVS",
    "RHHBY", "SNY", "GSK", "NVO", "BAYRY",
];
const POOL_RETAIL: &[&str] = &[
    "AMZN", "CVS", "WBA", "WMT", "COST", "TGT", "HD", "NKE", "SBUX", "MCD", "LVMUY", "PPRUY", "ADDYY", "JD", "PDD",
    "FRCOY", "GME", "PTON", "ZLNDY",
];
const POOL_STAPLES: &[&str] = &["KO", "PEP", "PG", "NSRGY", "UL", "HEINY", "DEO", "BUD", "BYND", "BTI"];
const POOL_TECH: &[&str] = &[
    "AAPL", "MSFT", "AMZN", "GOOGL", "META", "NVDA", "NFLX", "ORCL", "CRM", "ADBE", "IBM", "CSCO", "SMCI", "SSNLF",
    "SAP", "PLTR", "SNOW", "CRWD", "PANW", "FTNT", "INTU", "SHOP", "SPOT", "UBER", "LYFT", "ZM", "DOCU", "DELL", "HPQ",
    "SNAP", "PINS", "PYPL", "NOK", "ERIC", "BABA", "TCEHY", "BIDU", "XIACY", "SONY", "NTDOY", "SFTBY", "INFY", "SE",
    "GRAB", "PCRFY",
];
const POOL_TELECOM: &[&str] = &["VZ", "T", "TMUS", "VOD", "DTEGY"];
const POOL_TRAVEL: &[&str] = &["ABNB", "BKNG", "EXPE", "CCL", "RCL"];
const POOL_UTILITY: &[&str] = &["ENLAY", "IBDRY", "NEE"];

#[cfg(test)]
mod tests {
    use super::*;

    const ALIASES: &str = include_str!("../../../agents/sentiment/data/aliases.toml");

    /// (kind, symbol, aliases) from the table, by plain line parsing.
    fn alias_entries() -> Vec<(String, String, Vec<String>)> {
        let mut entries: Vec<(String, String, Vec<String>)> = Vec::new();
        let mut kind = String::new();
        for line in ALIASES.lines().map(str::trim) {
            if line.starts_with("[[") {
                kind = line.trim_matches(|c| c == '[' || c == ']').to_owned();
            } else if let Some(rest) = line.strip_prefix("symbol = ") {
                entries.push((kind.clone(), rest.trim_matches('"').to_owned(), Vec::new()));
            } else if let Some(rest) = line.strip_prefix("aliases = ") {
                let list: Vec<String> = rest.split('"').skip(1).step_by(2).map(str::to_owned).collect();
                entries.last_mut().unwrap().2 = list;
            }
        }
        entries
    }

    #[test]
    fn deterministic_per_seed() {
        let a = generate(2_000, 7);
        assert_eq!(a, generate(2_000, 7));
        assert_ne!(a, generate(2_000, 8));
        assert_eq!(generate(50, 7), a[..50]);
        assert!(generate(0, 1).is_empty());
    }

    #[test]
    fn texts_are_short_varied_and_filled() {
        let texts = generate(20_000, 42);
        assert_eq!(texts.len(), 20_000);
        for t in &texts {
            assert!(!t.trim().is_empty());
            assert!(t.chars().count() <= MAX_CHARS, "{t}");
            assert!(!t.contains('{') && !t.contains('}'), "unfilled slot: {t}");
        }
        let mut sorted: Vec<&String> = texts.iter().collect();
        sorted.sort();
        sorted.dedup();
        assert!(sorted.len() * 10 >= texts.len() * 9, "only {} distinct", sorted.len());
        assert!(texts.iter().filter(|t| t.starts_with('$')).count() > 2_000);
        assert!(texts.iter().filter(|t| t.contains("https://t.co/")).count() > 5_000);
    }

    #[test]
    fn every_template_fills_every_slot() {
        let mut rng = SplitMix64::new(3);
        for family in FAMILIES {
            assert!(!family.templates.is_empty());
            for template in family.templates {
                for _ in 0..3 {
                    let mut ctx = Ctx::new(family.pool);
                    let mut out = String::new();
                    fill(template, &mut rng, &mut ctx, &mut out);
                    assert!(!out.contains('{') && !out.contains('}'), "{template} -> {out}");
                    assert!(out.chars().count() <= MAX_CHARS);
                }
            }
        }
    }

    #[test]
    fn companies_are_many_unique_and_pools_resolve() {
        let cos = companies();
        assert!(cos.len() >= 150, "{}", cos.len());
        let mut names: Vec<&str> = cos.iter().map(|c| c.0).collect();
        let mut tickers: Vec<&str> = cos.iter().map(|c| c.1).collect();
        names.sort_unstable();
        names.dedup();
        tickers.sort_unstable();
        tickers.dedup();
        assert_eq!(names.len(), cos.len());
        assert_eq!(tickers.len(), cos.len());
        for family in FAMILIES {
            for ticker in family.pool {
                assert!(cos.iter().any(|c| c.1 == *ticker), "pool ticker {ticker} not a company");
            }
        }
    }

    #[test]
    fn alias_table_covers_every_company_and_is_unambiguous() {
        let entries = alias_entries();
        for (name, ticker) in companies() {
            let entry = entries.iter().find(|e| e.0 == "asset" && e.1 == *ticker);
            let entry = entry.unwrap_or_else(|| panic!("{ticker} missing from aliases.toml"));
            assert!(entry.2.iter().any(|a| a == name), "{name} is not an alias of {ticker}");
        }
        let mut seen: Vec<(String, &str)> = Vec::new();
        let mut symbols: Vec<&str> = Vec::new();
        for (kind, symbol, aliases) in &entries {
            assert!(kind == "asset" || kind == "group", "{kind}");
            assert!(!symbol.is_empty() && symbol.len() <= 24, "{symbol}");
            assert!(
                symbol.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || "_.-".contains(c)),
                "{symbol}"
            );
            assert_ne!(symbol, "MARKET");
            assert!(!symbols.contains(&symbol.as_str()), "{symbol} twice");
            symbols.push(symbol);
            assert!(!aliases.is_empty(), "{symbol} has no aliases");
            for alias in aliases {
                let key = alias.to_lowercase();
                if let Some((_, owner)) = seen.iter().find(|(k, _)| *k == key) {
                    assert_eq!(owner, symbol, "alias {alias:?} under two symbols");
                }
                seen.push((key, symbol));
            }
        }
        for required in [
            "BTCUSDT",
            "ETHUSDT",
            "EU_BANKS",
            "US_BANKS",
            "CHIPMAKERS",
            "OIL_MAJORS",
            "AIRLINES",
            "AUTOMAKERS",
            "EMERGING_MARKETS",
        ] {
            assert!(symbols.contains(&required), "{required}");
        }
        // Every group phrase the generator writes names a group.
        for phrase in SECTORS.iter().chain(REGIONS) {
            let key = phrase.to_lowercase();
            assert!(seen.iter().any(|(k, _)| *k == key), "{phrase} is in no alias entry");
        }
    }

    #[test]
    fn clamp_cuts_at_a_word_boundary() {
        let mut long = "word ".repeat(100);
        clamp(&mut long);
        assert!(long.chars().count() <= MAX_CHARS);
        assert!(long.ends_with("word"));
        let mut solid = "x".repeat(400);
        clamp(&mut solid);
        assert_eq!(solid.chars().count(), MAX_CHARS);
    }
}
