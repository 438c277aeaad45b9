//! Daily price tables and their CSV form (`Date,A,B,…` then one row per day), parsed from
//! text: reading the file is the caller's business.
use crate::error::RiskModelError;

/// Prices of several assets over the same days, row-major (`rows × assets`).
#[derive(Debug, Clone, PartialEq)]
pub struct PriceTable {
    assets: Vec<String>,
    dates: Vec<String>,
    prices: Vec<f64>,
}

impl PriceTable {
    /// A table from row-major prices. Every price must be finite and positive.
    pub fn new(assets: Vec<String>, dates: Vec<String>, prices: Vec<f64>) -> Result<Self, RiskModelError> {
        let expected = assets.len() * dates.len();
        if prices.len() != expected {
            return Err(RiskModelError::DimensionMismatch { what: "price table", expected, found: prices.len() });
        }
        for (i, name) in assets.iter().enumerate() {
            if assets[..i].contains(name) {
                return Err(RiskModelError::DuplicateAsset { asset: name.clone() });
            }
        }
        let table = Self { assets, dates, prices };
        table.check_prices()?;
        Ok(table)
    }

    /// Parse `Date,A,B,…` CSV text (pandas' `to_csv` of a price frame): the first column is
    /// the row label (kept as text), the others are prices. Blank lines are skipped; empty,
    /// unparsable, non-finite or non-positive prices are errors naming the asset and row.
    pub fn parse_csv(text: &str) -> Result<Self, RiskModelError> {
        let mut lines = text.lines().enumerate().filter(|(_, line)| !line.trim().is_empty());
        let (_, header) = lines.next().ok_or(RiskModelError::EmptyCsv)?;
        let assets: Vec<String> = header.split(',').skip(1).map(|name| name.trim().to_owned()).collect();
        let mut dates = Vec::new();
        let mut prices = Vec::new();
        for (line_index, line) in lines {
            let row = dates.len();
            let fields: Vec<&str> = line.split(',').map(str::trim).collect();
            if fields.len() != assets.len() + 1 {
                return Err(RiskModelError::CsvFieldCount {
                    line: line_index + 1,
                    expected: assets.len() + 1,
                    found: fields.len(),
                });
            }
            for (text, asset) in fields[1..].iter().zip(&assets) {
                let value: f64 = text.parse().map_err(|_| RiskModelError::UnparsablePrice {
                    asset: asset.clone(),
                    row,
                    text: (*text).to_owned(),
                })?;
                prices.push(value);
            }
            dates.push(fields[0].to_owned());
        }
        Self::new(assets, dates, prices)
    }

    fn check_prices(&self) -> Result<(), RiskModelError> {
        let n = self.assets.len();
        for (i, &value) in self.prices.iter().enumerate() {
            if !(value.is_finite() && value > 0.0) {
                return Err(RiskModelError::InvalidPrice { asset: self.assets[i % n].clone(), row: i / n, value });
            }
        }
        Ok(())
    }

    /// The same days, only the named assets, in the order given.
    pub fn select<S: AsRef<str>>(&self, assets: &[S]) -> Result<Self, RiskModelError> {
        let mut columns = Vec::with_capacity(assets.len());
        for name in assets {
            let name = name.as_ref();
            let column =
                self.column_index(name).ok_or_else(|| RiskModelError::UnknownAsset { asset: name.to_owned() })?;
            columns.push(column);
        }
        let n = self.assets.len();
        let mut prices = Vec::with_capacity(columns.len() * self.rows());
        for row in 0..self.rows() {
            prices.extend(columns.iter().map(|&c| self.prices[row * n + c]));
        }
        let names = assets.iter().map(|a| a.as_ref().to_owned()).collect();
        Self::new(names, self.dates.clone(), prices)
    }

    /// Column of the named asset.
    pub fn column_index(&self, asset: &str) -> Option<usize> {
        self.assets.iter().position(|a| a == asset)
    }

    pub fn assets(&self) -> &[String] {
        &self.assets
    }

    pub fn dates(&self) -> &[String] {
        &self.dates
    }

    /// Number of days.
    pub fn rows(&self) -> usize {
        self.dates.len()
    }

    /// Row-major prices.
    pub fn prices(&self) -> &[f64] {
        &self.prices
    }

    /// One day's prices.
    pub fn row(&self, row: usize) -> &[f64] {
        let n = self.assets.len();
        &self.prices[row * n..(row + 1) * n]
    }
}
