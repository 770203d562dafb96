//! The shopper's language: which of the supported languages a page asks for, every sentence the widget
//! shows in each of them, and the ETA sentence built from dates. Pure; dates are formatted by a function
//! the caller passes in (the browser's `Intl` in the view, a fake in tests).
//!
//! The tables below are the only source of the wording. The wasm does not carry them: the build
//! (`widget/strings.mjs`) copies them into the loader, which needs them anyway for its instant form,
//! and the loader hands the page's language to the wasm at mount ([`Text::from_list`]).

use shared::{Date, Eta};

/// Declares [`Text`] from its field names, so the order of the fields is written once: it is the order
/// of the loader's string tables (`widget/strings.mjs` reads this list), of [`Text::from_list`] and of
/// [`Text::list`].
macro_rules! sentences {
    ($($(#[$doc:meta])* $field:ident,)*) => {
        /// Every sentence of the widget in one language. `{}` marks where a value goes, in order (see [`fill`]).
        #[derive(Debug, PartialEq, Eq)]
        pub struct Text {
            $($(#[$doc])* pub $field: &'static str,)*
        }

        impl Text {
            /// The field names, in declaration order.
            pub const FIELDS: &'static [&'static str] = &[$(stringify!($field)),*];

            /// The table the loader hands over at mount (its sentences in [`Text::FIELDS`] order, as
            /// `widget/strings.mjs` wrote them from the tables below). Kept for the page's life: a
            /// page mounts a handful of widgets, each once. `None` when the count is wrong.
            pub fn from_list(list: Vec<String>) -> Option<&'static Text> {
                if list.len() != Self::FIELDS.len() {
                    return None;
                }
                let mut it = list.into_iter().map(|s| &*Box::leak(s.into_boxed_str()));
                let text = Text { $($field: it.next()?,)* };
                Some(Box::leak(Box::new(text)))
            }

            /// The sentences in [`Text::FIELDS`] order.
            pub fn list(&self) -> Vec<&'static str> {
                vec![$(self.$field),*]
            }
        }
    };
}

/// The languages the widget speaks. Anything else falls back to English.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lang {
    #[default]
    En,
    De,
    Fr,
    Es,
    Nl,
    Ja,
}

impl Lang {
    /// From a BCP 47 tag as found in `data-locale` or `<html lang>` ("de", "de-AT", "pt_BR" → En).
    pub fn from_tag(tag: &str) -> Lang {
        let primary = tag.trim().split(['-', '_']).next().unwrap_or_default().to_ascii_lowercase();
        match primary.as_str() {
            "de" => Lang::De,
            "fr" => Lang::Fr,
            "es" => Lang::Es,
            "nl" => Lang::Nl,
            "ja" => Lang::Ja,
            _ => Lang::En,
        }
    }

    /// The tag given to `Intl` and sent with a signup (so emails can follow the shopper's language).
    pub fn tag(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::De => "de",
            Lang::Fr => "fr",
            Lang::Es => "es",
            Lang::Nl => "nl",
            Lang::Ja => "ja",
        }
    }

    pub fn text(self) -> &'static Text {
        match self {
            Lang::En => &EN,
            Lang::De => &DE,
            Lang::Fr => &FR,
            Lang::Es => &ES,
            Lang::Nl => &NL,
            Lang::Ja => &JA,
        }
    }
}

sentences! {
    restock_title,
    preorder_title,
    backorder_title,
    /// "{title} — {eta}".
    title_with_eta,
    ships_week,
    ships_between,
    restock_action,
    preorder_action,
    backorder_action,
    reserved,
    waiting_one,
    waiting_many,
    email,
    phone,
    optional,
    /// The accessible name of the phone number's country code (a select beside the number).
    country,
    quantity,
    sms_consent,
    /// The shop's separate marketing checkbox (shown only when the shop asks for it).
    marketing_consent,
    position,
    joining,
    joined,
    offered,
    converted,
    notified,
    expired,
    allocated,
    cancelled,
    /// Double opt-in: the signup waits for the link in the email.
    pending_confirmation,
    network_error,
    server_error,
    load_error,
    refused,
    invalid_email,
    invalid_phone,
    invalid_quantity,
    /// The shop uses Turnstile and the signup came without a token.
    turnstile_required,
    /// siteverify refused the token (the challenge is reset for a fresh one).
    turnstile_failed,
    /// siteverify could not be asked: not the shopper's fault, try again soon.
    turnstile_unavailable,
    retry,
    claim_held,
    claim_open,
    claim_buy,
    claim_ended,
    claim_invalid,
}

/// Puts `args` into the `{}` slots of `template`, in order. Missing args leave the slot empty.
pub fn fill(template: &str, args: &[&str]) -> String {
    let mut out = String::with_capacity(template.len() + 16);
    let mut parts = template.split("{}");
    out.push_str(parts.next().unwrap_or_default());
    for (i, part) in parts.enumerate() {
        out.push_str(args.get(i).copied().unwrap_or_default());
        out.push_str(part);
    }
    out
}

/// The shipping part of a pre-order/backorder heading ("ships the week of December 7"), with the same
/// week rule as the emails (`shared::eta`). `date` formats one day in the shopper's language.
pub fn ships(t: &Text, eta: &Eta, date: &dyn Fn(Date) -> String) -> String {
    if eta.earliest().week_start() == eta.latest().week_start() {
        fill(t.ships_week, &[&date(eta.earliest().week_start())])
    } else {
        fill(t.ships_between, &[&date(eta.earliest()), &date(eta.latest())])
    }
}

pub static EN: Text = Text {
    restock_title: "Notify me when it's back",
    preorder_title: "Pre-order",
    backorder_title: "Backorder",
    title_with_eta: "{} — {}",
    ships_week: "ships the week of {}",
    ships_between: "ships between {} and {}",
    restock_action: "Notify me",
    preorder_action: "Reserve mine",
    backorder_action: "Join the list",
    reserved: "Reserved for the waitlist until {} — join to be next",
    waiting_one: "1 person is waiting",
    waiting_many: "{} people are waiting",
    email: "Email",
    phone: "Phone",
    optional: "(optional)",
    country: "Country code",
    quantity: "Quantity",
    sms_consent: "Text me when it's my turn. Message and data rates may apply. Reply STOP to opt out.",
    marketing_consent: "Also email me news and offers from this shop. Unsubscribe anytime.",
    position: "You're #{} in line",
    joining: "Joining…",
    joined: "You're on the list. We'll email you when it's your turn.",
    offered: "One is held for you: check your email to complete your order.",
    converted: "Thanks for your order!",
    notified: "It's back in stock! Check your email: first come, first served.",
    expired: "Your hold has expired.",
    allocated: "Your order is on its way.",
    cancelled: "You've left the list.",
    pending_confirmation: "Almost there: check your inbox and confirm with the link we sent you.",
    network_error: "We couldn't reach the waitlist. Check your connection and try again.",
    server_error: "Something went wrong on our side. Please try again.",
    load_error: "We couldn't load the waitlist. Check your connection and try again.",
    refused: "The waitlist refused this request.",
    invalid_email: "Please enter a valid email address.",
    invalid_phone: "Please enter the phone number in international format, like +44 7700 900123.",
    invalid_quantity: "Please enter a quantity from 1 to 100.",
    turnstile_required: "Please complete the security check, then send again.",
    turnstile_failed: "The security check failed. Please complete it again, then send again.",
    turnstile_unavailable: "The security check isn't available right now. Please try again in a moment.",
    retry: "Try again",
    claim_held: "This one is yours — reserved until {}",
    claim_open: "It's back in stock — yours if you're quick",
    claim_buy: "Complete my purchase",
    claim_ended: "This reservation has ended.",
    claim_invalid: "This link isn't valid for this product.",
};

pub static DE: Text = Text {
    restock_title: "Benachrichtigen, wenn wieder verfügbar",
    preorder_title: "Vorbestellung",
    backorder_title: "Nachbestellung",
    title_with_eta: "{} — {}",
    ships_week: "Versand in der Woche vom {}",
    ships_between: "Versand zwischen {} und {}",
    restock_action: "Benachrichtigen",
    preorder_action: "Für mich reservieren",
    backorder_action: "Auf die Liste setzen",
    reserved: "Bis {} für die Warteliste reserviert — tragen Sie sich ein, um als Nächstes dran zu sein",
    waiting_one: "1 Person wartet",
    waiting_many: "{} Personen warten",
    email: "E-Mail",
    phone: "Telefon",
    optional: "(optional)",
    country: "Ländervorwahl",
    quantity: "Menge",
    sms_consent: "Per SMS benachrichtigen, wenn ich an der Reihe bin. Es können Kosten für Nachrichten und Daten anfallen. Abmelden mit STOP.",
    marketing_consent: "Außerdem Neuigkeiten und Angebote dieses Shops per E-Mail erhalten. Jederzeit abbestellbar.",
    position: "Sie sind Nr. {} in der Warteschlange",
    joining: "Wird eingetragen…",
    joined: "Sie stehen auf der Liste. Wir schreiben Ihnen, sobald Sie an der Reihe sind.",
    offered: "Ein Exemplar ist für Sie reserviert: Bitte prüfen Sie Ihre E-Mails, um die Bestellung abzuschließen.",
    converted: "Vielen Dank für Ihre Bestellung!",
    notified: "Wieder auf Lager! Prüfen Sie Ihre E-Mails: Wer zuerst kommt, mahlt zuerst.",
    expired: "Ihre Reservierung ist abgelaufen.",
    allocated: "Ihre Bestellung ist unterwegs.",
    cancelled: "Sie haben die Liste verlassen.",
    pending_confirmation: "Fast geschafft: Bitte bestätigen Sie über den Link in der E-Mail, die wir Ihnen geschickt haben.",
    network_error: "Die Warteliste ist nicht erreichbar. Prüfen Sie Ihre Verbindung und versuchen Sie es erneut.",
    server_error: "Bei uns ist etwas schiefgelaufen. Bitte versuchen Sie es erneut.",
    load_error: "Die Warteliste konnte nicht geladen werden. Prüfen Sie Ihre Verbindung und versuchen Sie es erneut.",
    refused: "Die Warteliste hat diese Anfrage abgelehnt.",
    invalid_email: "Bitte geben Sie eine gültige E-Mail-Adresse ein.",
    invalid_phone: "Bitte geben Sie die Telefonnummer im internationalen Format ein, z. B. +49 30 1234567.",
    invalid_quantity: "Bitte geben Sie eine Menge von 1 bis 100 ein.",
    turnstile_required: "Bitte schließen Sie die Sicherheitsprüfung ab und senden Sie erneut.",
    turnstile_failed: "Die Sicherheitsprüfung ist fehlgeschlagen. Bitte wiederholen Sie sie und senden Sie erneut.",
    turnstile_unavailable: "Die Sicherheitsprüfung ist gerade nicht verfügbar. Bitte versuchen Sie es gleich noch einmal.",
    retry: "Erneut versuchen",
    claim_held: "Dieses Exemplar gehört Ihnen — reserviert bis {}",
    claim_open: "Wieder auf Lager — schnell sein lohnt sich",
    claim_buy: "Jetzt kaufen",
    claim_ended: "Diese Reservierung ist abgelaufen.",
    claim_invalid: "Dieser Link gilt nicht für diesen Artikel.",
};

pub static FR: Text = Text {
    restock_title: "M'avertir du retour en stock",
    preorder_title: "Précommande",
    backorder_title: "Commande en attente",
    title_with_eta: "{} — {}",
    ships_week: "expédition la semaine du {}",
    ships_between: "expédition entre le {} et le {}",
    restock_action: "M'avertir",
    preorder_action: "Réserver le mien",
    backorder_action: "Rejoindre la liste",
    reserved: "Réservé à la liste d'attente jusqu'à {} — inscrivez-vous pour être le prochain",
    waiting_one: "1 personne attend",
    waiting_many: "{} personnes attendent",
    email: "E-mail",
    phone: "Téléphone",
    optional: "(facultatif)",
    country: "Indicatif du pays",
    quantity: "Quantité",
    sms_consent: "M'envoyer un SMS quand c'est mon tour. Des frais de messagerie et de données peuvent s'appliquer. Répondez STOP pour vous désinscrire.",
    marketing_consent: "M'envoyer aussi par e-mail les nouveautés et offres de cette boutique. Désinscription à tout moment.",
    position: "Vous êtes n° {} dans la file",
    joining: "Inscription…",
    joined: "Vous êtes sur la liste. Nous vous écrirons quand ce sera votre tour.",
    offered: "Un exemplaire vous est réservé : consultez vos e-mails pour finaliser votre commande.",
    converted: "Merci pour votre commande !",
    notified: "De retour en stock ! Consultez vos e-mails : premier arrivé, premier servi.",
    expired: "Votre réservation a expiré.",
    allocated: "Votre commande est en route.",
    cancelled: "Vous avez quitté la liste.",
    pending_confirmation: "Presque fini : confirmez avec le lien de l'e-mail que nous venons de vous envoyer.",
    network_error: "Impossible de joindre la liste d'attente. Vérifiez votre connexion et réessayez.",
    server_error: "Un problème est survenu de notre côté. Veuillez réessayer.",
    load_error: "Impossible de charger la liste d'attente. Vérifiez votre connexion et réessayez.",
    refused: "La liste d'attente a refusé cette demande.",
    invalid_email: "Veuillez saisir une adresse e-mail valide.",
    invalid_phone: "Saisissez le numéro au format international, par exemple +33 6 12 34 56 78.",
    invalid_quantity: "Saisissez une quantité de 1 à 100.",
    turnstile_required: "Effectuez la vérification de sécurité, puis renvoyez le formulaire.",
    turnstile_failed: "La vérification de sécurité a échoué. Recommencez-la, puis renvoyez le formulaire.",
    turnstile_unavailable: "La vérification de sécurité est momentanément indisponible. Réessayez dans un instant.",
    retry: "Réessayer",
    claim_held: "Celui-ci est à vous — réservé jusqu'à {}",
    claim_open: "De retour en stock — ne tardez pas",
    claim_buy: "Finaliser mon achat",
    claim_ended: "Cette réservation est terminée.",
    claim_invalid: "Ce lien n'est pas valable pour ce produit.",
};

pub static ES: Text = Text {
    restock_title: "Avísame cuando vuelva",
    preorder_title: "Preventa",
    backorder_title: "Pedido pendiente",
    title_with_eta: "{} — {}",
    ships_week: "se envía la semana del {}",
    ships_between: "se envía entre el {} y el {}",
    restock_action: "Avísame",
    preorder_action: "Reservar el mío",
    backorder_action: "Unirme a la lista",
    reserved: "Reservado para la lista de espera hasta {} — únete para ser el siguiente",
    waiting_one: "1 persona está esperando",
    waiting_many: "{} personas están esperando",
    email: "Correo electrónico",
    phone: "Teléfono",
    optional: "(opcional)",
    country: "Prefijo del país",
    quantity: "Cantidad",
    sms_consent: "Envíame un SMS cuando sea mi turno. Pueden aplicarse tarifas de mensajes y datos. Responde STOP para darte de baja.",
    marketing_consent: "Envíame también por email novedades y ofertas de esta tienda. Puedes darte de baja cuando quieras.",
    position: "Eres el n.º {} en la fila",
    joining: "Uniéndote…",
    joined: "Estás en la lista. Te escribiremos cuando sea tu turno.",
    offered: "Tienes una unidad reservada: revisa tu correo para completar el pedido.",
    converted: "¡Gracias por tu pedido!",
    notified: "¡Vuelve a estar disponible! Revisa tu correo: por orden de llegada.",
    expired: "Tu reserva ha caducado.",
    allocated: "Tu pedido está en camino.",
    cancelled: "Has salido de la lista.",
    pending_confirmation: "Casi listo: confirma con el enlace del correo que te hemos enviado.",
    network_error: "No pudimos conectar con la lista de espera. Revisa tu conexión e inténtalo de nuevo.",
    server_error: "Algo salió mal por nuestra parte. Inténtalo de nuevo.",
    load_error: "No pudimos cargar la lista de espera. Revisa tu conexión e inténtalo de nuevo.",
    refused: "La lista de espera rechazó esta solicitud.",
    invalid_email: "Introduce un correo electrónico válido.",
    invalid_phone: "Introduce el teléfono en formato internacional, por ejemplo +34 612 345 678.",
    invalid_quantity: "Introduce una cantidad entre 1 y 100.",
    turnstile_required: "Completa la verificación de seguridad y vuelve a enviar.",
    turnstile_failed: "La verificación de seguridad ha fallado. Vuelve a completarla y envía de nuevo.",
    turnstile_unavailable: "La verificación de seguridad no está disponible ahora. Inténtalo de nuevo en un momento.",
    retry: "Reintentar",
    claim_held: "Este es tuyo — reservado hasta {}",
    claim_open: "Vuelve a estar disponible — date prisa",
    claim_buy: "Completar mi compra",
    claim_ended: "Esta reserva ha terminado.",
    claim_invalid: "Este enlace no es válido para este producto.",
};

pub static NL: Text = Text {
    restock_title: "Laat het me weten als het terug is",
    preorder_title: "Voorbestelling",
    backorder_title: "Nabestelling",
    title_with_eta: "{} — {}",
    ships_week: "verzending in de week van {}",
    ships_between: "verzending tussen {} en {}",
    restock_action: "Houd me op de hoogte",
    preorder_action: "Reserveer de mijne",
    backorder_action: "Zet me op de lijst",
    reserved: "Gereserveerd voor de wachtlijst tot {} — meld je aan om de volgende te zijn",
    waiting_one: "1 persoon wacht",
    waiting_many: "{} mensen wachten",
    email: "E-mail",
    phone: "Telefoon",
    optional: "(optioneel)",
    country: "Landcode",
    quantity: "Aantal",
    sms_consent: "Stuur me een sms als ik aan de beurt ben. Er kunnen bericht- en datakosten gelden. Antwoord STOP om je af te melden.",
    marketing_consent: "Stuur me ook nieuws en aanbiedingen van deze winkel per e-mail. Altijd af te melden.",
    position: "Je bent nr. {} in de rij",
    joining: "Aanmelden…",
    joined: "Je staat op de lijst. We mailen je zodra je aan de beurt bent.",
    offered: "Er ligt er een voor je klaar: kijk in je e-mail om je bestelling af te ronden.",
    converted: "Bedankt voor je bestelling!",
    notified: "Weer op voorraad! Kijk in je e-mail: wie het eerst komt, het eerst maalt.",
    expired: "Je reservering is verlopen.",
    allocated: "Je bestelling is onderweg.",
    cancelled: "Je hebt de lijst verlaten.",
    pending_confirmation: "Bijna klaar: bevestig met de link in de e-mail die we je stuurden.",
    network_error: "We konden de wachtlijst niet bereiken. Controleer je verbinding en probeer het opnieuw.",
    server_error: "Er ging bij ons iets mis. Probeer het opnieuw.",
    load_error: "We konden de wachtlijst niet laden. Controleer je verbinding en probeer het opnieuw.",
    refused: "De wachtlijst heeft dit verzoek geweigerd.",
    invalid_email: "Vul een geldig e-mailadres in.",
    invalid_phone: "Vul het nummer in internationaal formaat in, bijvoorbeeld +31 6 12345678.",
    invalid_quantity: "Vul een aantal van 1 tot 100 in.",
    turnstile_required: "Voltooi de beveiligingscontrole en verstuur opnieuw.",
    turnstile_failed: "De beveiligingscontrole is mislukt. Voltooi hem opnieuw en verstuur nogmaals.",
    turnstile_unavailable: "De beveiligingscontrole is nu niet beschikbaar. Probeer het zo opnieuw.",
    retry: "Opnieuw proberen",
    claim_held: "Deze is van jou — gereserveerd tot {}",
    claim_open: "Weer op voorraad — wees er snel bij",
    claim_buy: "Rond mijn aankoop af",
    claim_ended: "Deze reservering is afgelopen.",
    claim_invalid: "Deze link is niet geldig voor dit product.",
};

pub static JA: Text = Text {
    restock_title: "再入荷のお知らせ",
    preorder_title: "予約注文",
    backorder_title: "お取り寄せ",
    title_with_eta: "{}（{}）",
    ships_week: "{}の週に発送予定",
    ships_between: "{}〜{}に発送予定",
    restock_action: "通知を受け取る",
    preorder_action: "予約する",
    backorder_action: "リストに登録",
    reserved: "{}までウェイトリストのために確保中です。登録して次の順番を待ちましょう",
    waiting_one: "1人が待っています",
    waiting_many: "{}人が待っています",
    email: "メールアドレス",
    phone: "電話番号",
    optional: "（任意）",
    country: "国番号",
    quantity: "数量",
    sms_consent: "順番が来たらSMSで知らせてください。通信料がかかる場合があります。配信停止はSTOPと返信してください。",
    marketing_consent: "このショップのお知らせやお得な情報もメールで受け取る。いつでも配信停止できます。",
    position: "現在{}番目です",
    joining: "登録中…",
    joined: "リストに登録しました。順番が来たらメールでお知らせします。",
    offered: "1点を確保しました。メールを確認して注文を完了してください。",
    converted: "ご注文ありがとうございます！",
    notified: "再入荷しました！メールをご確認ください。先着順です。",
    expired: "確保期間が終了しました。",
    allocated: "ご注文の商品を発送します。",
    cancelled: "リストから外れました。",
    pending_confirmation: "あと少しです。お送りしたメールのリンクから登録を確認してください。",
    network_error: "ウェイトリストに接続できませんでした。接続を確認して、もう一度お試しください。",
    server_error: "問題が発生しました。もう一度お試しください。",
    load_error: "ウェイトリストを読み込めませんでした。接続を確認して、もう一度お試しください。",
    refused: "このリクエストは受け付けられませんでした。",
    invalid_email: "有効なメールアドレスを入力してください。",
    invalid_phone: "電話番号は国際形式で入力してください（例: +81 90 1234 5678）。",
    invalid_quantity: "数量は1〜100で入力してください。",
    turnstile_required: "セキュリティチェックを完了してから、もう一度送信してください。",
    turnstile_failed: "セキュリティチェックに失敗しました。もう一度チェックを完了してから送信してください。",
    turnstile_unavailable: "現在セキュリティチェックを利用できません。しばらくしてからもう一度お試しください。",
    retry: "再試行",
    claim_held: "この商品はあなたのために{}まで確保されています",
    claim_open: "再入荷しました。お早めにどうぞ",
    claim_buy: "購入手続きへ",
    claim_ended: "この確保期間は終了しました。",
    claim_invalid: "このリンクはこの商品には使えません。",
};

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [Lang; 6] = [Lang::En, Lang::De, Lang::Fr, Lang::Es, Lang::Nl, Lang::Ja];

    #[test]
    fn tags_choose_a_language() {
        let cases = [
            ("de", Lang::De),
            ("de-AT", Lang::De),
            ("FR_ca", Lang::Fr),
            (" es-419", Lang::Es),
            ("nl-BE", Lang::Nl),
            ("ja-JP", Lang::Ja),
            ("en-GB", Lang::En),
            ("pt-BR", Lang::En),
            ("", Lang::En),
        ];
        for (tag, want) in cases {
            assert_eq!(Lang::from_tag(tag), want, "{tag:?}");
        }
        for lang in ALL {
            assert_eq!(Lang::from_tag(lang.tag()), lang);
        }
    }

    #[test]
    fn fill_slots_in_order() {
        assert_eq!(fill("{} — {}", &["a", "b"]), "a — b");
        assert_eq!(fill("no slots", &["a"]), "no slots");
        assert_eq!(fill("{}人", &["3"]), "3人");
        assert_eq!(fill("x {} y {}", &["1"]), "x 1 y ");
    }

    /// Every sentence exists in every language, with as many slots as the English one, and the
    /// translations are really translations (not English left in place).
    #[test]
    fn every_language_has_every_sentence() {
        let en = EN.list();
        assert_eq!(en.len(), Text::FIELDS.len());
        for lang in ALL {
            let t = lang.text().list();
            for (i, (s, e)) in t.iter().zip(&en).enumerate() {
                assert!(!s.trim().is_empty(), "{lang:?} {}", Text::FIELDS[i]);
                assert_eq!(s.matches("{}").count(), e.matches("{}").count(), "{lang:?} {s:?} vs {e:?}");
            }
            if lang != Lang::En {
                assert_ne!(lang.text().joined, EN.joined, "{lang:?}");
                assert_ne!(lang.text().restock_action, EN.restock_action, "{lang:?}");
            }
        }
    }

    /// The loader hands the wasm its language's table as a list in `FIELDS` order.
    #[test]
    fn a_table_survives_the_trip_through_the_loader() {
        for lang in ALL {
            let list = lang.text().list().into_iter().map(String::from).collect();
            assert_eq!(Text::from_list(list), Some(lang.text()), "{lang:?}");
        }
        assert_eq!(Text::from_list(vec!["too short".into()]), None);
    }

    #[test]
    fn ships_uses_the_week_rule_of_the_emails() {
        let d = |s: &str| Date::parse(s).unwrap();
        let fmt = |x: Date| format!("{}/{}", x.day(), x.month());
        let cases = [
            (Lang::En, "2026-12-09", "2026-12-11", "ships the week of 7/12"),
            (Lang::En, "2026-12-07", "2026-12-18", "ships between 7/12 and 18/12"),
            (Lang::De, "2026-12-09", "2026-12-09", "Versand in der Woche vom 7/12"),
            (Lang::Fr, "2026-12-07", "2026-12-18", "expédition entre le 7/12 et le 18/12"),
            (Lang::Ja, "2026-12-09", "2026-12-10", "7/12の週に発送予定"),
        ];
        for (lang, a, b, want) in cases {
            let eta = Eta::new(d(a), d(b)).unwrap();
            assert_eq!(ships(lang.text(), &eta, &fmt), want);
        }
    }
}
