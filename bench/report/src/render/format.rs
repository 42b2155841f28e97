//! Number formatting for the Markdown: thousands separators, ratios, short
//! server names.

pub fn fmt_num(v: f64, decimals: usize) -> String {
    let s = format!("{v:.decimals$}");
    // Thousands separators for the integer part.
    let (int, frac) = s
        .split_once('.')
        .map(|(a, b)| (a.to_owned(), format!(".{b}")))
        .unwrap_or((s.clone(), String::new()));
    let neg = int.starts_with('-');
    let digits: Vec<char> = int.trim_start_matches('-').chars().collect();
    let mut out = String::new();
    for (i, c) in digits.iter().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(*c);
    }
    format!("{}{out}{frac}", if neg { "-" } else { "" })
}

pub fn ratio(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) if b != 0.0 => Some(a / b),
        _ => None,
    }
}

pub fn fmt_ratio(r: Option<f64>) -> String {
    r.map(|r| {
        if r >= 10.0 {
            format!("{r:.1}x")
        } else {
            format!("{r:.2}x")
        }
    })
    .unwrap_or_else(|| "–".into())
}

pub fn short(server: &str) -> &str {
    match server {
        "socketioxide" => "sioxide",
        "node" => "Node",
        other => other,
    }
}
