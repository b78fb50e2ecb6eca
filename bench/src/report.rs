//! The figures as one table and as JSON.

use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub figure: String,
    pub unit: String,
    pub tenantry: f64,
    pub baseline: Option<f64>,
    /// What the baseline is.
    pub baseline_what: String,
    /// tenantry / baseline.
    pub ratio: Option<f64>,
    pub goal: Option<String>,
    pub met: Option<bool>,
}

impl Row {
    pub fn new(figure: impl Into<String>, unit: &str, tenantry: f64) -> Row {
        Row {
            figure: figure.into(),
            unit: unit.into(),
            tenantry,
            baseline: None,
            baseline_what: String::new(),
            ratio: None,
            goal: None,
            met: None,
        }
    }

    pub fn baseline(mut self, what: &str, value: f64) -> Row {
        self.baseline = Some(value);
        self.baseline_what = what.into();
        self.ratio = (value != 0.0).then(|| self.tenantry / value);
        self
    }

    pub fn goal(mut self, goal: &str, met: bool) -> Row {
        self.goal = Some(goal.into());
        self.met = Some(met);
        self
    }
}

fn number(v: f64) -> String {
    if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else if v.abs() >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// A Markdown table (readable as plain text too).
pub fn table(rows: &[Row]) -> String {
    let cells: Vec<[String; 6]> = rows
        .iter()
        .map(|r| {
            [
                r.figure.clone(),
                format!("{} {}", number(r.tenantry), r.unit),
                r.baseline
                    .map(|b| format!("{} {} ({})", number(b), r.unit, r.baseline_what))
                    .unwrap_or_else(|| "—".into()),
                r.ratio
                    .map(|x| {
                        if x < 1.0 {
                            format!("{:.1}%", x * 100.0)
                        } else {
                            format!("{x:.2}×")
                        }
                    })
                    .unwrap_or_else(|| "—".into()),
                r.goal.clone().unwrap_or_else(|| "—".into()),
                match r.met {
                    Some(true) => "yes".into(),
                    Some(false) => "**no**".into(),
                    None => "—".into(),
                },
            ]
        })
        .collect();
    let header = ["figure", "Tenantry", "baseline", "ratio", "goal", "met?"];
    let mut widths = header.map(|h| h.chars().count());
    for row in &cells {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |row: &[String]| {
        let padded: Vec<String> = row
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c}{}", " ".repeat(w - c.chars().count())))
            .collect();
        format!("| {} |\n", padded.join(" | "))
    };
    let mut out = line(&header.map(String::from));
    out.push_str(&line(&widths.map(|w| "-".repeat(w))));
    for row in &cells {
        out.push_str(&line(row));
    }
    out
}
