//! The notice document (通知文書) a provider hands or posts to its patients, in Japanese, with
//! every item the Act asks a notice to carry. Operators may bring their own template; it must
//! still carry the required items, or it is refused.

use crate::{Error, Provider, Result, Settings};

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoticeFormat {
    /// A standalone HTML page (for printing and the provider's web site).
    Html,
    /// Plain text.
    Text,
}

/// Placeholders a template must use, so that no required item can be left out.
const REQUIRED: [&str; 5] = [
    "{{producer_name}}",
    "{{data_items}}",
    "{{portal}}",
    "{{desk}}",
    "{{wait_days}}",
];

const DEFAULT_TEMPLATE: &str = "\
# 医療情報の提供に関するお知らせ

{{provider_name}}（{{provider_address}}）は、「医療分野の研究開発に資するための匿名加工医療情報及び仮名加工医療情報に関する法律」（次世代医療基盤法）に基づき、あなたの医療情報を、国の認定を受けた作成事業者である {{producer_name}} に提供します。

## 1. 提供の目的
提供された医療情報は、医療分野の研究開発に役立てるため、特定の個人を識別できないよう加工した匿名加工医療情報、および仮名加工医療情報の作成に用いられます。加工後の情報は、審査を経て、大学・研究機関・製薬企業等の研究に利用されます。

## 2. 提供する医療情報の項目
{{data_items}}

## 3. 取得と提供の方法
当{{provider_kind}}が診療・健診等の過程で取得・記録した情報を、暗号化した通信または媒体により、{{producer_name}} に提供します。氏名・住所等はあなたを識別する情報として分けて厳重に管理され、研究者に提供されることはありません。

## 4. 提供を停止できること
あなた（ご本人）、またはご本人が亡くなられた場合のご遺族は、いつでも提供の停止を求めることができます。停止の求めは受け付けた時点から有効となり、以後の提供は行われません。お子さま（16歳未満）については保護者の方が求めることができます。

## 5. 停止の求めの方法
- オンライン: {{portal}}
- 作成事業者の窓口: {{desk}}
- 当{{provider_kind}}の窓口: {{provider_name}}（{{provider_address}}）

## 6. 提供開始までの期間
この通知から {{wait_days}} 日を経過するまでは提供を開始しません。その間に停止を求められた場合、情報は一切提供されません。

---
Notice (English summary): {{provider_name}} will provide your medical information to {{producer_name}}, a producer certified under Japan's Next-Generation Medical Infrastructure Act, to create anonymized and pseudonymized medical information for research. Items: {{data_items}}. You, or your bereaved family, may ask at any time that provision stop ({{portal}}; {{desk}}; or at {{provider_name}}). Nothing is provided until {{wait_days}} days after this notice.
";

/// The data items a provider of this kind typically sends (printed on the notice).
fn data_items(p: &Provider) -> &'static str {
    use tsunagu_model::ProviderKind as K;
    match p.kind {
        K::Hospital | K::Clinic => {
            "受診歴・入退院歴、病名、処方・注射、検査結果、バイタルサイン、処置・手術"
        }
        K::Pharmacy => "調剤の記録（薬剤名・用量・日数）",
        K::CareFacility => "介護サービスの利用記録、要介護度、心身の状態の記録",
        K::Municipality => "乳幼児健診・予防接種・介護保険に関する記録",
        K::Insurer => "診療報酬明細書（レセプト）情報、特定健診・特定保健指導の結果",
        K::SchoolOperator => "学校健診の結果（身長・体重・視力等）",
    }
}

fn escape_html(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

/// Render the notice for a provider. `template` is an operator's own (Markdown-like text with
/// `{{…}}` placeholders) or `None` for the built-in one.
pub fn render_notice(
    provider: &Provider,
    settings: &Settings,
    template: Option<&str>,
    format: NoticeFormat,
) -> Result<String> {
    let tpl = template.unwrap_or(DEFAULT_TEMPLATE);
    for r in REQUIRED {
        if !tpl.contains(r) {
            return Err(Error::input(
                "notice template",
                format!("lacks {r}: a notice must carry every item the Act asks for"),
            ));
        }
    }
    let esc = |s: &str| match format {
        NoticeFormat::Html => escape_html(s),
        NoticeFormat::Text => s.to_owned(),
    };
    let values = [
        ("{{provider_name}}", esc(&provider.name)),
        ("{{provider_address}}", esc(&provider.address)),
        ("{{provider_kind}}", esc(provider.kind.japanese())),
        ("{{producer_name}}", esc(&settings.producer_name)),
        ("{{data_items}}", esc(data_items(provider))),
        ("{{portal}}", esc(&settings.producer_portal)),
        ("{{desk}}", esc(&settings.producer_desk)),
        ("{{wait_days}}", settings.notice_wait_days.to_string()),
    ];
    let body_src = match format {
        NoticeFormat::Html => escape_html(tpl),
        NoticeFormat::Text => tpl.to_owned(),
    };
    let mut body = body_src;
    for (k, v) in &values {
        body = body.replace(k, v);
    }
    Ok(match format {
        NoticeFormat::Text => body,
        NoticeFormat::Html => {
            let mut html = String::from(
                "<!DOCTYPE html>\n<html lang=\"ja\">\n<head>\n<meta charset=\"utf-8\">\n<title>医療情報の提供に関するお知らせ</title>\n\
                 <style>body{font-family:sans-serif;max-width:42em;margin:2em auto;line-height:1.7}</style>\n</head>\n<body>\n",
            );
            for line in body.lines() {
                if let Some(h) = line.strip_prefix("# ") {
                    html.push_str(&format!("<h1>{h}</h1>\n"));
                } else if let Some(h) = line.strip_prefix("## ") {
                    html.push_str(&format!("<h2>{h}</h2>\n"));
                } else if let Some(li) = line.strip_prefix("- ") {
                    html.push_str(&format!("<ul><li>{li}</li></ul>\n"));
                } else if line == "---" {
                    html.push_str("<hr>\n");
                } else if !line.trim().is_empty() {
                    html.push_str(&format!("<p>{line}</p>\n"));
                }
            }
            html.push_str("</body>\n</html>\n");
            html
        }
    })
}
