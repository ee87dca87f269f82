//! Words for people: a one-line Chinese summary of each audit event's payload, and the
//! Chinese names of the codes (actions, statuses, kinds, roles, severities) the report shows
//! next to the codes themselves.

use chrono::DateTime;
use serde_json::Value;

use crate::domain::clock::beijing;

/// Longest piece of user text (comments, reasons) quoted in a summary, in characters.
const QUOTE_MAX: usize = 80;

fn text<'a>(p: &'a Value, key: &str) -> &'a str {
    p.get(key).and_then(Value::as_str).unwrap_or("")
}

fn num(p: &Value, key: &str) -> String {
    match p.get(key) {
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::String(s)) => s.clone(),
        _ => "?".into(),
    }
}

/// `10150000.00` → `10,150,000.00`; anything else unchanged.
pub fn yuan(amount: &str) -> String {
    let (sign, digits) = match amount.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", amount),
    };
    let (whole, frac) = digits.split_once('.').unwrap_or((digits, ""));
    if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) {
        return amount.to_string();
    }
    let mut grouped = String::with_capacity(whole.len() + whole.len() / 3);
    for (i, ch) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(ch);
    }
    if frac.is_empty() {
        format!("{sign}{grouped}")
    } else {
        format!("{sign}{grouped}.{frac}")
    }
}

fn money(p: &Value, key: &str) -> String {
    match p.get(key).and_then(Value::as_str) {
        Some(s) => format!("{} 元", yuan(s)),
        None => "—".into(),
    }
}

/// An RFC 3339 instant as Beijing time to the second; anything else unchanged.
pub fn beijing_text(s: &str) -> String {
    DateTime::parse_from_rfc3339(s)
        .map(|t| {
            t.with_timezone(&beijing())
                .format("%Y-%m-%d %H:%M:%S")
                .to_string()
        })
        .unwrap_or_else(|_| s.to_string())
}

fn time(p: &Value, key: &str) -> String {
    beijing_text(text(p, key))
}

fn quote(p: &Value, key: &str) -> String {
    let s = text(p, key).trim();
    if s.chars().count() > QUOTE_MAX {
        let cut: String = s.chars().take(QUOTE_MAX).collect();
        format!("“{cut}…”")
    } else if s.is_empty() {
        "（无说明）".into()
    } else {
        format!("“{s}”")
    }
}

fn deposit(p: &Value, verb: &str) -> String {
    let reference = text(p, "reference");
    let mut s = format!(
        "保证金{verb} {}（登记 #{}，{} → {}）",
        money(p, "amount"),
        num(p, "registration_id"),
        label(text(p, "from")),
        label(text(p, "to")),
    );
    if !reference.is_empty() {
        s.push_str(&format!("，凭证 {reference}"));
    }
    s
}

/// One line about what the event recorded, from its payload.
pub fn summarize(action: &str, p: &Value) -> String {
    match action.split('.').next().unwrap_or_default() {
        "listing" => listing_summary(action, p),
        "registration" | "deposit" => registration_summary(action, p),
        "auction" | "bid" | "negotiation" => auction_summary(action, p),
        "deal" | "alert" => deal_summary(action, p),
        _ => String::new(),
    }
}

/// What a listing event says.
fn listing_summary(action: &str, p: &Value) -> String {
    match action {
        "listing.created" => format!(
            "创建项目 {}：评估值 {}，挂牌价 {}，保证金 {}，加价幅度 {}",
            text(p, "project_no"),
            money(p, "appraised_value"),
            money(p, "listing_price"),
            money(p, "deposit"),
            money(p, "increment"),
        ),
        "listing.updated" => {
            let fields: Vec<&str> = p
                .get("fields")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            format!(
                "修改草稿（{}），挂牌价 {}",
                fields.join("、"),
                money(p, "listing_price")
            )
        }
        "listing.submitted" => format!("提交审核（第 {} 轮）", num(p, "round")),
        "listing.returned" => format!("退回修改：{}", quote(p, "comment")),
        "listing.approved" => format!(
            "审核通过，正式披露 {} 至 {}",
            time(p, "disclosure_start"),
            time(p, "disclosure_end")
        ),
        "listing.suspended" => format!(
            "中止（原状态 {}）：{}",
            label(text(p, "from")),
            quote(p, "reason")
        ),
        "listing.resumed" => format!("恢复至 {}：{}", label(text(p, "to")), quote(p, "reason")),
        "listing.terminated" => format!(
            "终结（原状态 {}）：{}",
            label(text(p, "from")),
            quote(p, "reason")
        ),
        "listing.relisted" => format!(
            "重新挂牌第 {} 轮：挂牌价 {} → {}",
            num(p, "round"),
            money(p, "previous_price"),
            money(p, "listing_price")
        ),
        "listing.disclosure_ended" => format!(
            "披露期结束：合格竞买人 {} 名，结果 {}",
            num(p, "eligible_bidders"),
            label(text(p, "outcome"))
        ),
        "listing.suspension_overdue" => format!("中止已超过 {} 个月", num(p, "max_months")),
        _ => String::new(),
    }
}

/// What a registration or deposit event says.
fn registration_summary(action: &str, p: &Value) -> String {
    match action {
        "registration.created" => format!("意向登记 #{}", num(p, "registration_id")),
        "registration.qualified" => format!(
            "资格确认 #{}，竞买号 {}，保证金截止 {}",
            num(p, "registration_id"),
            text(p, "bidder_code"),
            time(p, "deposit_due_at")
        ),
        "registration.rejected" => format!(
            "资格不予确认 #{}：{}",
            num(p, "registration_id"),
            quote(p, "comment")
        ),
        "deposit.confirmed" => deposit(p, "到账确认"),
        "deposit.refunded" => deposit(p, "退还"),
        "deposit.converted" => deposit(p, "转为价款"),
        "deposit.forfeited" => deposit(p, "扣除"),
        _ => String::new(),
    }
}

/// What an auction, bid or negotiation event says.
fn auction_summary(action: &str, p: &Value) -> String {
    match action {
        "auction.scheduled" => format!(
            "安排网络竞价：{} 开始，起始价 {}，加价幅度 {}，合格竞买人 {} 名",
            time(p, "starts_at"),
            money(p, "start_price"),
            money(p, "increment"),
            num(p, "eligible_bidders")
        ),
        "auction.started" => "竞价开始（自由报价期）".into(),
        "bid.sealed" => format!(
            "一次报价已提交（金额密封），竞买号 {}，承诺值 {}",
            text(p, "bidder_code"),
            text(p, "commitment")
        ),
        "auction.opened" => format!(
            "一次报价开标：{} 份报价，最高价 {}，竞买号 {}",
            p.get("bids").and_then(Value::as_array).map_or(0, Vec::len),
            money(p, "price"),
            text(p, "winner_bidder_code")
        ),
        "bid.placed" => format!(
            "第 {} 次出价 {}，竞买号 {}",
            num(p, "seq"),
            money(p, "amount"),
            text(p, "bidder_code")
        ),
        "auction.closed" if text(p, "status") == "terminated" => {
            format!("项目终结，竞价随之结束：{}", text(p, "reason"))
        }
        "auction.paused" => format!(
            "竞价暂停（中止），当前阶段剩余 {} 秒",
            num(p, "remaining_seconds")
        ),
        "auction.resumed" => format!("竞价恢复，结束时间调整为 {}", time(p, "ends_at")),
        "auction.closed" => match p.get("price").and_then(Value::as_str) {
            Some(_) => format!(
                "竞价结束：{} 次出价，最高价 {}，竞买号 {}",
                num(p, "bids"),
                money(p, "price"),
                text(p, "winner_bidder_code")
            ),
            None => "竞价结束：无人出价，流拍".into(),
        },
        "negotiation.quoted" => format!(
            "协议报价 {}（登记 #{}）",
            money(p, "amount"),
            num(p, "registration_id")
        ),
        _ => String::new(),
    }
}

/// What a deal or risk-alert event says.
fn deal_summary(action: &str, p: &Value) -> String {
    match action {
        "deal.defaulted" => format!(
            "受让方违约（竞买号 {}，成交价 {}）：{}",
            text(p, "bidder_code"),
            money(p, "price"),
            text(p, "reason")
        ),
        "deal.offered" => format!(
            "向候补竞买人（竞买号 {}）发出受让邀请，价格 {}，答复期限 {}",
            text(p, "bidder_code"),
            money(p, "price"),
            time(p, "offer_due")
        ),
        "deal.offer_accepted" => format!("候补竞买人 {} 接受受让", text(p, "bidder_code")),
        "deal.offer_declined" => format!("候补竞买人 {} 放弃受让", text(p, "bidder_code")),
        "deal.offer_lapsed" => format!("候补竞买人 {} 逾期未答复", text(p, "bidder_code")),
        "deal.awarded" => format!(
            "确认成交（{}）：{}，竞买号 {}，合同签署期限 {}",
            label(text(p, "method")),
            money(p, "price"),
            text(p, "bidder_code"),
            time(p, "contract_due_at")
        ),
        "deal.contract_signed" => {
            let late = if p.get("late").and_then(Value::as_bool) == Some(true) {
                "（逾期）"
            } else {
                ""
            };
            format!("签署交易合同 {}{late}", time(p, "signed_at"))
        }
        "deal.contract_overdue" => format!(
            "合同未在期限 {} 前签署（竞买号 {}）",
            time(p, "contract_due_at"),
            text(p, "bidder_code")
        ),
        "deal.paid" => format!("价款结清，凭证 {}", text(p, "reference")),
        "deal.announced" => "发布成交公告".into(),
        "deal.closed" => match p.get("certificate_no").and_then(Value::as_str) {
            Some(no) => format!("交易完结，出具交易凭证 {no}"),
            None => "交易完结".into(),
        },
        "alert.raised" => format!(
            "风险预警 {}（{}）：{}",
            text(p, "rule"),
            label(text(p, "severity")),
            text(p, "detail")
        ),
        "alert.acknowledged" => format!(
            "预警 #{} 已复核：{}",
            num(p, "alert_id"),
            quote(p, "comment")
        ),
        _ => String::new(),
    }
}

/// The Chinese name of a code the report shows; the code itself when it has none.
pub fn label(code: &str) -> &str {
    LABELS
        .iter()
        .find(|(c, _)| *c == code)
        .map_or(code, |(_, name)| *name)
}

/// Codes and their Chinese names, as [`label`] reads them.
const LABELS: &[(&str, &str)] = &[
    // listing kinds
    ("equity_transfer", "产权转让"),
    ("capital_increase", "企业增资"),
    ("asset_transfer", "资产转让"),
    // listing statuses
    ("draft", "草稿"),
    ("submitted", "待审核"),
    ("returned", "已退回"),
    ("disclosure", "信息披露"),
    ("no_sale", "未征集到受让方"),
    ("negotiation", "协议成交"),
    ("auction_scheduled", "待竞价"),
    ("bidding", "竞价中"),
    ("awarded", "已成交"),
    ("contract_signed", "已签约"),
    ("paid", "已付款"),
    ("announced", "已公告"),
    ("closed", "已完结"),
    ("suspended", "中止"),
    ("terminated", "终结"),
    ("failed", "流拍"),
    // registrations and deposits
    ("pending", "待审核"),
    ("qualified", "已确认资格"),
    ("rejected", "不予确认"),
    ("unpaid", "未缴纳"),
    ("refunded", "已退还"),
    ("converted", "转为价款"),
    ("forfeited", "已扣除"),
    // deals
    ("auction", "网络竞价"),
    // roles
    ("enterprise", "转让方"),
    ("bidder", "竞买人"),
    ("operator", "交易机构"),
    ("auditor", "审计"),
    ("admin", "管理员"),
    // alerts
    ("high", "高"),
    ("medium", "中"),
    ("low", "低"),
    ("open", "待复核"),
    ("acknowledged", "已复核"),
    // verification problems
    ("hash_mismatch", "内容与哈希不符"),
    ("gap", "事件缺失"),
    ("broken_link", "链接断裂"),
    ("out_of_order", "顺序错误"),
    ("bad_signature", "签名无效"),
    ("unknown_key", "签名密钥不受信任"),
    ("bad_root", "根哈希不符"),
    ("bad_counts", "计数不符"),
    ("checkpoint_missing", "检查点缺失"),
    ("stream_went_backwards", "链头倒退"),
    ("checkpoint_mismatch", "与已签名检查点不符"),
    ("truncated_after_checkpoint", "检查点后被截断"),
    ("state_mismatch", "业务数据与审计记录不符"),
    // actions
    ("listing.created", "创建项目"),
    ("listing.updated", "修改草稿"),
    ("listing.submitted", "提交审核"),
    ("listing.returned", "退回"),
    ("listing.approved", "审核通过"),
    ("listing.suspended", "中止"),
    ("listing.resumed", "恢复"),
    ("listing.terminated", "终结"),
    ("listing.relisted", "重新挂牌"),
    ("listing.disclosure_ended", "披露期结束"),
    ("listing.suspension_overdue", "中止超期"),
    ("registration.created", "意向登记"),
    ("registration.qualified", "资格确认"),
    ("registration.rejected", "资格不予确认"),
    ("deposit.confirmed", "保证金到账"),
    ("deposit.refunded", "保证金退还"),
    ("deposit.converted", "保证金转价款"),
    ("deposit.forfeited", "保证金扣除"),
    ("auction.scheduled", "安排竞价"),
    ("auction.started", "竞价开始"),
    ("bid.placed", "出价"),
    ("bid.sealed", "一次报价提交"),
    ("auction.opened", "一次报价开标"),
    ("auction.closed", "竞价结束"),
    ("negotiation.quoted", "协议报价"),
    ("deal.awarded", "确认成交"),
    ("deal.contract_signed", "签署合同"),
    ("deal.contract_overdue", "合同逾期"),
    ("deal.paid", "价款结清"),
    ("deal.announced", "成交公告"),
    ("deal.closed", "交易完结"),
    ("auction.paused", "竞价暂停"),
    ("auction.resumed", "竞价恢复"),
    ("deal.defaulted", "受让方违约"),
    ("deal.offered", "候补受让邀请"),
    ("deal.offer_accepted", "候补接受"),
    ("deal.offer_declined", "候补放弃"),
    ("deal.offer_lapsed", "候补逾期"),
    ("sandbox.clock_advanced", "沙箱时钟前移"),
    ("alert.raised", "风险预警"),
    ("alert.acknowledged", "预警复核"),
];

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn amounts_get_thousands_separators() {
        assert_eq!(yuan("10150000.00"), "10,150,000.00");
        assert_eq!(yuan("999.50"), "999.50");
        assert_eq!(yuan("1000"), "1,000");
        assert_eq!(yuan("-1234567.89"), "-1,234,567.89");
        assert_eq!(yuan("n/a"), "n/a");
    }

    #[test]
    fn a_bid_reads_as_a_bid_in_beijing_terms() {
        let s = summarize(
            "bid.placed",
            &json!({"seq": 3, "amount": "10150000.00", "bidder_code": "B0042"}),
        );
        assert_eq!(s, "第 3 次出价 10,150,000.00 元，竞买号 B0042");
        let s = summarize(
            "listing.approved",
            &json!({"disclosure_start": "2026-11-27T08:00:00.000000Z",
                    "disclosure_end": "2026-12-25T09:00:00.000000Z"}),
        );
        assert_eq!(
            s,
            "审核通过，正式披露 2026-11-27 16:00:00 至 2026-12-25 17:00:00"
        );
    }

    #[test]
    fn long_user_text_is_cut_and_unknown_actions_say_nothing() {
        let long = "很".repeat(200);
        let s = summarize("listing.returned", &json!({"comment": long}));
        assert_eq!(
            s.chars().count(),
            "退回修改：".chars().count() + QUOTE_MAX + 3
        );
        assert_eq!(summarize("something.new", &json!({})), "");
        assert_eq!(label("bid.placed"), "出价");
        assert_eq!(label("not_a_code"), "not_a_code");
    }
}
