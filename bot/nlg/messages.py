"""Every message the assistant sends, by key, with its English source text.

The English here is the source of the Babel catalogs in ``locales/`` (``make messages`` extracts it
with the keyword ``N_:1c,2``: the key is the gettext context). Rules for every text, in every
language (docs/writing.md): the first line is neutral because it shows on lock screens; plain words,
short sentences; one question per message; no promises; no "why"; gender-neutral.

``safety_critical`` marks texts that need two reviewers (crisis, exit, consent, privacy, handoff).
"""

from __future__ import annotations

from dataclasses import dataclass, field


def N_(key: str, text: str) -> str:
    """Mark a source text for extraction; the key is its gettext context."""
    return text


@dataclass(frozen=True)
class Button:
    key: str
    payload: str
    role: str | None = None  # "yes" / "no": what a typed yes or no means for this question


@dataclass(frozen=True)
class MessageDef:
    key: str
    text: str
    buttons: tuple[Button, ...] = ()
    safety_critical: bool = False
    question: bool = False  # the message asks something (one question per message)
    tags: tuple[str, ...] = field(default=())


def _m(
    key: str,
    text: str,
    *,
    buttons: tuple[Button, ...] = (),
    safety_critical: bool = False,
    question: bool = False,
) -> MessageDef:
    return MessageDef(key, text, buttons, safety_critical, question)


YES_NO_HUMAN = (
    Button("button_yes", "/request_human", "yes"),
    Button("button_no", "/no_person", "no"),
)
# The handoff question (E1, E2, C4): a person with the summary, changing it, a code word, a person
# without the summary, or no one. Each is a separate, revocable choice.
HANDOFF_CONSENT = (
    Button("button_send_request", "/handoff_yes", "yes"),
    Button("button_card_change", "/card_change"),
    Button("button_code_word", "/card_code_word"),
    Button("button_no_card", "/handoff_nocard"),
    Button("button_no", "/handoff_no", "no"),
)
CONFIRM_EXIT = (
    Button("button_yes_close", "/exit_confirmed", "yes"),
    Button("button_no_stay", "/nothing_erased", "no"),
)
CONFIRM_DELETE = (
    Button("button_yes_erase", "/delete_confirmed", "yes"),
    Button("button_no_stay", "/nothing_erased", "no"),
)
WAIT_OR_LEAVE = (
    Button("button_keep_waiting", "/handoff_wait", "yes"),
    Button("button_back_to_bot", "/handoff_leave", "no"),
)
HELP_MENU = (
    Button("button_need_shelter", "/need_shelter"),
    Button("button_need_labour", "/need_labour"),
    Button("button_need_legal", "/need_legal"),
    Button("button_need_medical", "/need_medical"),
    Button("button_need_repatriation", "/need_repatriation"),
    Button("button_request_human", "/request_human"),
)

# Button labels: at most 20 characters in every language (WhatsApp's limit, and I5).
BUTTON_TEXTS: dict[str, str] = {
    "button_yes": N_("button_yes", "Yes"),
    "button_no": N_("button_no", "No"),
    "button_not_now": N_("button_not_now", "Not now"),
    "button_yes_close": N_("button_yes_close", "Yes, close it"),
    "button_yes_erase": N_("button_yes_erase", "Yes, erase it"),
    "button_no_stay": N_("button_no_stay", "No, stay"),
    "button_skip": N_("button_skip", "Skip"),
    "button_need_shelter": N_("button_need_shelter", "A place to stay"),
    "button_need_labour": N_("button_need_labour", "Work, pay or debts"),
    "button_need_legal": N_("button_need_legal", "Papers or legal help"),
    "button_need_medical": N_("button_need_medical", "Health"),
    "button_need_repatriation": N_("button_need_repatriation", "Going home"),
    "button_request_human": N_("button_request_human", "Talk to a person"),
    "button_send_request": N_("button_send_request", "Yes, ask a person"),
    "button_services": N_("button_services", "See services"),
    # The handoff summary (E2): what the person can change before it is sent.
    "button_card_change": N_("button_card_change", "Change the summary"),
    "button_code_word": N_("button_code_word", "Set a code word"),
    "button_no_card": N_("button_no_card", "Ask without summary"),
    "button_hide_country": N_("button_hide_country", "Hide my country"),
    "button_show_country": N_("button_show_country", "Show my country"),
    "button_hide_needs": N_("button_hide_needs", "Hide help needed"),
    "button_show_needs": N_("button_show_needs", "Show help needed"),
    "button_urgent": N_("button_urgent", "It is urgent"),
    "button_not_urgent": N_("button_not_urgent", "It is not urgent"),
    "button_calls_ok": N_("button_calls_ok", "Calls are OK"),
    "button_no_calls": N_("button_no_calls", "No phone calls"),
    "button_may_write_first": N_("button_may_write_first", "May write first"),
    "button_only_reply": N_("button_only_reply", "Only when I write"),
    "button_safe_hours": N_("button_safe_hours", "Safe hours"),
    "button_hours_morning": N_("button_hours_morning", "6:00 to 12:00"),
    "button_hours_afternoon": N_("button_hours_afternoon", "12:00 to 18:00"),
    "button_hours_evening": N_("button_hours_evening", "18:00 to 22:00"),
    "button_hours_night": N_("button_hours_night", "22:00 to 6:00"),
    "button_any_time": N_("button_any_time", "Any time"),
    "button_done": N_("button_done", "Done"),
    # While waiting (E3): wait or go back, and the place in the queue.
    "button_keep_waiting": N_("button_keep_waiting", "Keep waiting"),
    "button_back_to_bot": N_("button_back_to_bot", "Back to assistant"),
    "button_place": N_("button_place", "My place in line"),
}

MESSAGES: dict[str, MessageDef] = {
    m.key: m
    for m in (
        # --- First contact (A7): at most about 80 words, the first line neutral. ---
        _m(
            "utter_first_contact",
            N_(
                "utter_first_contact",
                "Hi, this is {bot_name}.\n"
                "This is an automated chat from {org_name}. I can share information about "
                "support services and connect you with a person from our team. "
                "We are not the police or immigration.\n"
                "If you are in danger right now, call {emergency}.\n"
                "To leave at any time, send {exit_word}.",
            ),
            safety_critical=True,
        ),
        _m(
            "utter_language_offer",
            N_("utter_language_offer", "Language: English. You can choose another one below."),
        ),
        _m(
            "utter_ask_safe_to_chat",
            N_("utter_ask_safe_to_chat", "One question.\nIs it safe for you to chat now?"),
            buttons=(
                Button("button_yes", "/affirm", "yes"),
                Button("button_not_now", "/deny", "no"),
            ),
            safety_critical=True,
            question=True,
        ),
        _m(
            "utter_safe_not_now",
            N_(
                "utter_safe_not_now",
                "OK.\nYou can write again any time. We will never write to you first. "
                "To leave now, send {exit_word}.",
            ),
            safety_critical=True,
        ),
        _m(
            "utter_menu",
            N_(
                "utter_menu",
                "Thank you for writing.\nYou don't need to tell me what happened. "
                "What would you like help with?",
            ),
            buttons=HELP_MENU,
            question=True,
        ),
        _m(
            "utter_not_understood",
            N_(
                "utter_not_understood",
                "Sorry, I'm not sure I understood.\nHere is what I can help with. "
                "Which one fits best?",
            ),
            buttons=HELP_MENU,
            question=True,
        ),
        _m(
            "utter_greet_again",
            N_("utter_greet_again", "Hi again.\nWhat would you like help with?"),
            buttons=HELP_MENU,
            question=True,
        ),
        _m(
            "utter_goodbye",
            N_(
                "utter_goodbye",
                "Take care.\nYou can write again any time. "
                "To erase what this service keeps about you, send {delete_word}.",
            ),
        ),
        _m(
            "utter_thanks",
            N_("utter_thanks", "You're welcome.\nI'm here if you need anything else."),
        ),
        # --- Crisis (A1-A3, A5): numbers first, no question before them. ---
        # The first line is warm and neutral ("I'm here."): it shows on a lock screen, and "OK."
        # next to "they locked me in" read as indifference.
        _m(
            "utter_crisis",
            N_(
                "utter_crisis",
                "I'm here.\nCall {emergency} ({country_name}) if you are not safe now.\n"
                "{hotline_lines}\n"
                "I can connect you with a person from our team. Do you want that?",
            ),
            buttons=YES_NO_HUMAN,
            safety_critical=True,
            question=True,
        ),
        _m(
            "utter_crisis_unknown_country",
            N_(
                "utter_crisis_unknown_country",
                "I'm here.\n{emergency_examples}: call the number of your country "
                "if you are not safe now.\n"
                "{hotline_lines}\n"
                "I can connect you with a person from our team. Do you want that?",
            ),
            buttons=YES_NO_HUMAN,
            safety_critical=True,
            question=True,
        ),
        # Self-harm: the country's suicide or crisis line first ({self_harm_line}, left out when
        # there is none), then the emergency number, health before police; no police hotline.
        _m(
            "utter_self_harm",
            N_(
                "utter_self_harm",
                "I'm here.\nYou don't have to go through this alone.\n"
                "{self_harm_line}\n"
                "If you might hurt yourself now, call {health_emergency} ({country_name}).\n"
                "I can connect you with a person from our team. Do you want that?",
            ),
            buttons=YES_NO_HUMAN,
            safety_critical=True,
            question=True,
        ),
        _m(
            "utter_self_harm_unknown_country",
            N_(
                "utter_self_harm_unknown_country",
                "I'm here.\nYou don't have to go through this alone.\n"
                "{self_harm_line}\n"
                "If you might hurt yourself now, call the emergency number of the country you "
                "are in. For example: {emergency_examples}.\n"
                "I can connect you with a person from our team. Do you want that?",
            ),
            buttons=YES_NO_HUMAN,
            safety_critical=True,
            question=True,
        ),
        _m(
            "self_harm_line",
            N_("self_harm_line", "To talk with someone now, call {number}."),
            safety_critical=True,
        ),
        _m(
            "self_harm_line_examples",
            N_(
                "self_harm_line_examples",
                "To talk with someone now, call a support line. For example: {examples}.",
            ),
            safety_critical=True,
        ),
        # Someone writes about another person in danger now (a child, a relative, someone with
        # them): the emergency number first, that they can call for them, then a person.
        _m(
            "utter_crisis_others",
            N_(
                "utter_crisis_others",
                "I'm here.\nCall {emergency} ({country_name}) if someone is not safe now. "
                "You can call for them.\n"
                "{hotline_lines}\n"
                "I can connect you with a person from our team. Do you want that?",
            ),
            buttons=YES_NO_HUMAN,
            safety_critical=True,
            question=True,
        ),
        _m(
            "utter_crisis_others_unknown_country",
            N_(
                "utter_crisis_others_unknown_country",
                "I'm here.\n{emergency_examples}: call the number of the country they are in "
                "if they are not safe now. You can call for them.\n"
                "{hotline_lines}\n"
                "I can connect you with a person from our team. Do you want that?",
            ),
            buttons=YES_NO_HUMAN,
            safety_critical=True,
            question=True,
        ),
        # A crisis as the first message: the introduction comes second and short, without the
        # numbers again (they are in the message before); with no country known it asks for it.
        _m(
            "utter_first_contact_crisis",
            N_(
                "utter_first_contact_crisis",
                "This is {bot_name}, an automated chat from {org_name}.\n"
                "To leave at any time, send {exit_word}. We are not the police or immigration.",
            ),
            safety_critical=True,
        ),
        _m(
            "utter_first_contact_crisis_pick_country",
            N_(
                "utter_first_contact_crisis_pick_country",
                "This is {bot_name}, an automated chat from {org_name}.\n"
                "To leave at any time, send {exit_word}. We are not the police or immigration. "
                "If you want the exact numbers, tap your country.",
            ),
            safety_critical=True,
        ),
        _m(
            "utter_crisis_pick_country",
            N_(
                "utter_crisis_pick_country",
                "If you want the exact numbers, tap your country.",
            ),
            safety_critical=True,
        ),
        _m(
            "crisis_short_line",
            N_(
                "crisis_short_line",
                "If you are in danger now, call your country's emergency number.",
            ),
            safety_critical=True,
        ),
        _m(
            "hotline_line",
            N_("hotline_line", "You can also contact {name}: {contact}."),
            safety_critical=True,
        ),
        _m(
            "no_hotline_line",
            N_(
                "no_hotline_line",
                "I don't have a support line for this country yet.",
            ),
            safety_critical=True,
        ),
        # --- Needs (G1-G3): country first if unknown, then one to three services. ---
        _m(
            "utter_ask_country",
            N_(
                "utter_ask_country",
                "One question.\nWhich country are you in now? "
                "You can skip this. Choose below or type the name.",
            ),
            question=True,
        ),
        _m(
            "utter_services_intro",
            N_(
                "utter_services_intro",
                "Here are services that may help.\n"
                "You don't need to tell them your story to ask for information.",
            ),
        ),
        _m(
            "utter_services_intro_any_country",
            N_(
                "utter_services_intro_any_country",
                "Here are services that may help.\n"
                "I don't know your country, so these are from other countries; their free "
                "numbers may work only from inside that country. "
                "You don't need to tell them your story to ask for information.",
            ),
        ),
        _m(
            "utter_no_services",
            N_(
                "utter_no_services",
                "Sorry.\nI don't have a service listed for this yet. "
                "A person from our team may know more.",
            ),
        ),
        _m(
            "utter_no_services_country",
            N_(
                "utter_no_services_country",
                "Sorry.\nI don't have a service listed for this in {country_name} yet. "
                "If you are not safe now, call {emergency}. A person from our team may know more.",
            ),
        ),
        # A country the person named that the directory does not list (not in the Americas, or
        # not yet added): only its own number, never another country's lines.
        _m(
            "utter_outside_directory",
            N_(
                "utter_outside_directory",
                "{emergency} ({country_name}).\n"
                "That is the number to call there if you are not safe now. I don't have "
                "services listed in {country_name}; I know services in the Americas only. "
                "I can connect you with a person from our team. Do you want that?",
            ),
            buttons=YES_NO_HUMAN,
            safety_critical=True,
            question=True,
        ),
        _m(
            "utter_outside_directory_no_number",
            N_(
                "utter_outside_directory_no_number",
                "About {country_name}.\n"
                "I don't have numbers or services for {country_name} yet; I know services in "
                "the Americas only. If you are not safe now, call the local emergency number. "
                "I can connect you with a person from our team. Do you want that?",
            ),
            buttons=YES_NO_HUMAN,
            safety_critical=True,
            question=True,
        ),
        _m(
            "utter_ask_which_country",
            N_(
                "utter_ask_which_country",
                "One question.\nThat place name is used in more than one country. "
                "Which country are you in?",
            ),
            question=True,
        ),
        _m("service_card_title", N_("service_card_title", "Option {n} of {total}")),
        _m("service_helps_with", N_("service_helps_with", "Can help with: {categories}.")),
        # For someone who said they cannot call (deaf, cannot speak, "no phone calls"): the line
        # after the first one of a crisis reply (Renderer.no_voice_line).
        _m(
            "crisis_no_voice_lines",
            N_("crisis_no_voice_lines", "Without a voice call: {ways}."),
            safety_critical=True,
        ),
        _m(
            "crisis_no_voice_none",
            N_(
                "crisis_no_voice_none",
                "I have no number here that works without a voice call. You can keep writing "
                "here: a person from our team can answer you in writing.",
            ),
            safety_critical=True,
        ),
        _m(
            "crisis_voice_note",
            N_(
                "crisis_voice_note",
                "The numbers to call are for someone near you who can call.",
            ),
            safety_critical=True,
        ),
        _m("service_contact_voice", N_("service_contact_voice", "Call {number}")),
        _m("service_contact_sms", N_("service_contact_sms", "Text {number}")),
        _m("service_contact_whatsapp", N_("service_contact_whatsapp", "WhatsApp {number}")),
        _m("service_contact_tty", N_("service_contact_tty", "TTY {number}")),
        _m("service_contact_relay", N_("service_contact_relay", "Relay service {number}")),
        _m("service_contact_email", N_("service_contact_email", "Email {email}")),
        _m("service_contact_web", N_("service_contact_web", "Website {url}")),
        _m("service_open_always", N_("service_open_always", "Open 24 hours, every day.")),
        _m("service_hours", N_("service_hours", "Hours: {hours}.")),
        _m("service_hours_unknown", N_("service_hours_unknown", "Hours: not listed.")),
        _m("service_address", N_("service_address", "Address: {address}.")),
        _m(
            "service_facts",
            N_(
                "service_facts",
                "Free: {free}. Confidential: {confidential}. "
                "May involve the police: {police}. "
                "May share information with immigration: {immigration}.",
            ),
        ),
        _m("service_women_only", N_("service_women_only", "Only for women.")),
        _m("service_men_only", N_("service_men_only", "Only for men.")),
        _m(
            "service_for_children",
            N_("service_for_children", "For children and young people."),
        ),
        _m("service_lgbtq", N_("service_lgbtq", "Welcomes LGBTQ+ people: {value}.")),
        _m("fact_yes", N_("fact_yes", "yes")),
        _m("fact_no", N_("fact_no", "no")),
        _m("fact_unknown", N_("fact_unknown", "not known")),
        _m("category_shelter", N_("category_shelter", "a safe place to stay")),
        _m("category_legal", N_("category_legal", "legal help and papers")),
        _m("category_medical", N_("category_medical", "health care")),
        _m("category_labour", N_("category_labour", "work, pay and debts")),
        _m("category_repatriation", N_("category_repatriation", "going home")),
        _m("category_hotline", N_("category_hotline", "listening and advice")),
        _m(
            "utter_offer_human",
            N_(
                "utter_offer_human",
                "One more option.\nWould you like to talk with a person from our team?",
            ),
            buttons=YES_NO_HUMAN,
            question=True,
        ),
        # --- Honest short answers (D9, C1, B2). ---
        # Each claim here is tied to the code by tests/unit/test_privacy_texts.py (docs/data.md):
        # the contact and its encrypted address stay until DELETE, a handoff's messages go
        # BOT_TRANSCRIPT_TTL_HOURS after it closes, the legal limits are those of
        # utter_handoff_explain, and what the platform itself keeps is {platform_keeps}.
        _m(
            "utter_privacy",
            N_(
                "utter_privacy",
                "About your privacy.\n"
                "We keep your language, country, the help you asked for, and, in coded form, the "
                "address we reply to. Your messages are kept only if you write with our team, who "
                "read them. They are erased {ttl_hours} hours after that chat ends. We share "
                "nothing, unless the law requires it: a child at risk or a life in danger. "
                "{platform_keeps} To erase it all, send {delete_word}.",
            ),
            safety_critical=True,
        ),
        # Under 18: the one limit of confidentiality the handoff states, said before it matters.
        _m(
            "utter_privacy_young",
            N_(
                "utter_privacy_young",
                "About your privacy.\n"
                "We keep your language, country, the help you asked for, and, in coded form, the "
                "address we reply to. Your messages are kept only if you write with our team. You "
                "are under 18: if you tell them that you are being hurt or are in danger, they "
                "may have to tell child protection services, to keep you safe. {platform_keeps} "
                "To erase it all, send {delete_word}.",
            ),
            safety_critical=True,
        ),
        # What the messaging platform itself keeps, by platform (bot/platforms.py): said in
        # utter_privacy and utter_deleted, in the person's language.
        _m(
            "platform_keeps_telegram",
            N_(
                "platform_keeps_telegram",
                "Telegram knows your account and keeps this chat until it is deleted there.",
            ),
            safety_critical=True,
        ),
        _m(
            "platform_keeps_whatsapp",
            N_(
                "platform_keeps_whatsapp",
                "WhatsApp (Meta) carries this chat and sees your number. The chat stays on your "
                "phone until you clear it.",
            ),
            safety_critical=True,
        ),
        _m(
            "platform_keeps_webchat",
            N_(
                "platform_keeps_webchat",
                "Your browser forgets this chat when you close the page, but its history may show "
                "the site.",
            ),
            safety_critical=True,
        ),
        _m(
            "platform_keeps_other",
            N_(
                "platform_keeps_other",
                "The app you write from may keep its own copy of this chat.",
            ),
            safety_critical=True,
        ),
        _m(
            "utter_bot_identity",
            N_(
                "utter_bot_identity",
                "About this chat.\nI am an automated assistant, a computer program run by "
                "{org_name}. I am not a person, not the police and not immigration. "
                "To talk with a person from our team, send {person_word}.",
            ),
        ),
        _m(
            "utter_trafficking_info",
            N_(
                "utter_trafficking_info",
                "Some general information.\n"
                "Nobody has the right to keep your papers, to stop you from leaving, or to make "
                "you work to pay a debt. Being forced, tricked or threatened into work or sex "
                "is a crime in the Americas, even if you agreed at first. "
                "I can't say what your situation is called by law, but a legal service or a "
                "person from our team can talk it through with you.",
            ),
            buttons=(
                Button("button_services", "/need_legal"),
                Button("button_request_human", "/request_human"),
            ),
        ),
        _m(
            "utter_report_case",
            N_(
                "utter_report_case",
                "Thank you for caring about someone.\n"
                "You don't need to be sure to ask for advice. A support line can listen and "
                "tell you the options. Some lines work with the police; each listing says so.",
            ),
        ),
        # The person speaks of themselves (no one else is named): never "caring about someone".
        _m(
            "utter_report_case_self",
            N_(
                "utter_report_case_self",
                "Thank you for telling me.\n"
                "You don't need to be sure, or to tell me everything, to ask for advice. A "
                "support line can listen and tell you your options. Some lines work with the "
                "police; each listing says so.",
            ),
        ),
        # --- Young people, status questions, probing, filters (bot/conversation/people.py). ---
        # Someone under 18: the child line first, then what confidentiality means for them,
        # before any personal question (the same limit the handoff states).
        _m(
            "utter_young",
            N_(
                "utter_young",
                "Thank you for telling me.\n"
                "{child_line}\n"
                "You are under 18, so here is what privacy means for you. We do not tell your "
                "family, your school or the police what you write here. There is one limit: if "
                "you tell a person from our team that you are being hurt or are in danger, they "
                "may have to tell child protection services, to keep you safe.",
            ),
            safety_critical=True,
        ),
        _m(
            "child_line",
            N_("child_line", "You can call a line for children and young people: {number}."),
            safety_critical=True,
        ),
        _m(
            "child_line_examples",
            N_(
                "child_line_examples",
                "Lines for children and young people, by country: {examples}.",
            ),
            safety_critical=True,
        ),
        _m(
            "no_child_line",
            N_(
                "no_child_line",
                "I don't have a line for young people in this country yet. A person from our "
                "team can help you find one.",
            ),
            safety_critical=True,
        ),
        _m(
            "utter_menu_short",
            N_(
                "utter_menu_short",
                "What would you like help with?\nChoose below, or write it in your own words.",
            ),
            buttons=HELP_MENU,
            question=True,
        ),
        # "Will you call the police?", "will I be deported?": a straight answer, and that help
        # is there whatever a person's status. No promise about what other services do.
        _m(
            "utter_status",
            N_(
                "utter_status",
                "About your question: here is a plain, short answer.\n"
                "We are not the police or immigration. We do not call them, and we do not give "
                "them your name, your number or your messages. The one exception: if a child is "
                "at risk or a life is in danger now, the law may require our team to act. "
                "You can get help whatever your immigration status, with or without papers. "
                "Each service I show says if it may involve the police or share information "
                "with immigration.",
            ),
            safety_critical=True,
        ),
        _m(
            "utter_status_young",
            N_(
                "utter_status_young",
                "About your question: here is a plain, short answer.\n"
                "We are not the police or immigration, and we do not call them, your school or "
                "your family. You are under 18, so there is one limit: if you tell our team that "
                "you are being hurt or are in danger, they may have to tell child "
                "protection services, to keep you safe. You can get help whatever your "
                "immigration status. Each service I show says if it may involve the police or "
                "immigration.",
            ),
            safety_critical=True,
        ),
        # Someone looking for another person ("show me what she said", "who is this number?"):
        # nothing about who writes here, what this service is about, or any message.
        _m(
            "utter_probing",
            N_(
                "utter_probing",
                "This is an automated chat.\n"
                "I can't show any messages, and I can't say who writes here or what they said. "
                "I can only share general information.",
            ),
            safety_critical=True,
        ),
        _m(
            "utter_filter_men",
            N_("utter_filter_men", "OK.\nI will not show you services that are only for women."),
        ),
        _m(
            "utter_filter_lgbtq",
            N_(
                "utter_filter_lgbtq",
                "OK.\nI will show first the services that say they welcome LGBTQ+ people, and "
                "leave out any that say they do not. Many listings don't say; a person from our "
                "team may know more.",
            ),
        ),
        _m(
            "utter_filter_children",
            N_(
                "utter_filter_children",
                "OK.\nI will show services for children and young people first.",
            ),
        ),
        _m(
            "utter_filter_no_voice",
            N_(
                "utter_filter_no_voice",
                "OK.\nI will show only services you can reach without a voice call: by text, "
                "chat or email.",
            ),
        ),
        # --- Handoff (E1, E3, C2): offered, explained, consented, honest about waits. ---
        _m(
            "utter_handoff_explain",
            N_(
                "utter_handoff_explain",
                "About talking with a person.\n"
                "A trained person from the {org_name} team answers here, in writing. "
                "Team hours: {hours}. {wait_estimate} You can stop waiting at any time. "
                "They are not the police. What you share stays with the team, unless a child is "
                "at risk or a life is in danger now; then the law may require them to act.",
            ),
            safety_critical=True,
        ),
        _m(
            "utter_ask_handoff_consent",
            N_(
                "utter_ask_handoff_consent",
                "One question.\nThe person who joins will see only this short summary, so you "
                "don't have to repeat yourself:\n{card}\n"
                "Do you want me to ask a person to join this chat?",
            ),
            buttons=HANDOFF_CONSENT,
            safety_critical=True,
            question=True,
        ),
        _m(
            "utter_handoff_card_change",
            N_(
                "utter_handoff_card_change",
                "The summary.\n{card}\nWhat do you want to change? Each choice changes one line.",
            ),
            safety_critical=True,
            question=True,
        ),
        _m(
            "utter_ask_safe_hours",
            N_(
                "utter_ask_safe_hours",
                "Safe hours.\nWhen is it safe for the team to write to you first, in your "
                "local time? They can always answer right after you write.",
            ),
            safety_critical=True,
            question=True,
        ),
        _m(
            "utter_ask_code_word",
            N_(
                "utter_ask_code_word",
                "A code word.\nType a word or two you will remember, not your name. Before "
                "talking about your situation, the team will ask you for it.",
            ),
            buttons=(Button("button_skip", "/card_show", "no"),),
            safety_critical=True,
        ),
        _m(
            "utter_code_word_saved",
            N_(
                "utter_code_word_saved",
                "Code word saved.\nOnly a coded check of it is kept, not the word itself. "
                "You can delete your message with the word from this chat.",
            ),
            safety_critical=True,
        ),
        # Staff ask for the code word during a live handoff (bot/handoff/live.py): the answer is
        # checked and forgotten, never put in the transcript staff read.
        _m(
            "utter_ask_code_word_check",
            N_(
                "utter_ask_code_word_check",
                "Automatic message.\n{staff_name} asks for your code word, to be sure it is you. "
                "Write only the word in your next message. I check it and do not keep it. "
                "What is your code word?",
            ),
            question=True,
            safety_critical=True,
        ),
        _m(
            "utter_code_word_checked",
            N_(
                "utter_code_word_checked",
                "Thank you.\nI checked it and told the team the result. The word itself is not "
                "kept. If your message with it is still in this chat, you can delete it.",
            ),
            safety_critical=True,
        ),
        # The summary's lines: enumerated fields only, each one a line of its own.
        _m("card_language", N_("card_language", "- Language: {value}")),
        _m("card_country", N_("card_country", "- Country: {value}")),
        _m("card_country_hidden", N_("card_country_hidden", "- Country: not shared")),
        _m("card_needs", N_("card_needs", "- Help with: {value}")),
        _m("card_needs_hidden", N_("card_needs_hidden", "- Help with: not shared")),
        _m("card_urgent", N_("card_urgent", "- Urgent: yes")),
        _m("card_not_urgent", N_("card_not_urgent", "- Urgent: no")),
        _m("card_no_calls", N_("card_no_calls", "- No phone calls")),
        _m("card_calls_ok", N_("card_calls_ok", "- Phone calls are OK")),
        _m(
            "card_only_reply",
            N_("card_only_reply", "- The team writes only right after you write"),
        ),
        _m("card_may_write_first", N_("card_may_write_first", "- The team may write to you first")),
        _m("card_safe_hours", N_("card_safe_hours", "- Safe hours: {hours}")),
        _m("card_code_word_set", N_("card_code_word_set", "- Code word: set")),
        _m("card_code_word_none", N_("card_code_word_none", "- Code word: none")),
        _m(
            "utter_handoff_queued",
            N_(
                "utter_handoff_queued",
                "Thank you.\nA person from the team will join this chat. You will see their "
                "name when they do. You can keep writing; they will read it. "
                "To go back to the automated assistant, send {back_word}.",
            ),
            buttons=(Button("button_place", "/handoff_place"),),
            safety_critical=True,
        ),
        _m(
            "utter_handoff_no_one",
            N_(
                "utter_handoff_no_one",
                "Thank you for asking.\nNobody from the team is available right now. "
                "The team is next available {next_open}. "
                "If you are in danger now, call {emergency}. {hotline_lines} "
                "Do you want to keep waiting for a person, or go back to the automated "
                "assistant?",
            ),
            buttons=WAIT_OR_LEAVE,
            safety_critical=True,
            question=True,
        ),
        _m(
            "utter_handoff_no_answer",
            N_(
                "utter_handoff_no_answer",
                "Thank you for waiting.\nNobody from the team has been able to answer yet. "
                "Team hours: {hours}. "
                "If you are in danger now, call {emergency}. {hotline_lines} "
                "Do you want to keep waiting for a person, or go back to the automated "
                "assistant?",
            ),
            buttons=WAIT_OR_LEAVE,
            safety_critical=True,
            question=True,
        ),
        # WhatsApp after 24 hours (bot/handoff/late.py): asked once when the request is queued.
        _m(
            "utter_late_reply_ask",
            N_(
                "utter_late_reply_ask",
                "One more question.\nIf the team answers more than 24 hours after your last "
                "message, WhatsApp lets us send only a short, fixed message first. It says only "
                "that you have a new message, nothing about this chat. When you answer it, you "
                "get the team's reply. May we send that message in the next {days} days?",
            ),
            buttons=(
                Button("button_yes", "/late_reply_yes", "yes"),
                Button("button_no", "/late_reply_no", "no"),
            ),
            safety_critical=True,
            question=True,
        ),
        _m(
            "utter_late_reply_yes",
            N_(
                "utter_late_reply_yes",
                "OK.\nIf the team answers late, you will get that short message. Reply to it to "
                "read their answer. This permission ends in {days} days, or when you send "
                "{exit_word}.",
            ),
            safety_critical=True,
        ),
        _m(
            "utter_late_reply_no",
            N_(
                "utter_late_reply_no",
                "OK.\nWe will send nothing after 24 hours. If the team has not answered by then, "
                "write here again so they can answer.",
            ),
            safety_critical=True,
        ),
        _m(
            "utter_handoff_keep_waiting",
            N_(
                "utter_handoff_keep_waiting",
                "OK.\nYour request stays in the queue, and the team will read what you write. "
                "To go back to the automated assistant, send {back_word}.",
            ),
            safety_critical=True,
        ),
        _m(
            "utter_queue_place",
            N_(
                "utter_queue_place",
                "About the queue.\nYou are number {position} in line for a person. {wait_estimate}",
            ),
        ),
        _m(
            "queue_wait_estimate",
            N_("queue_wait_estimate", "Recently, people waited about {minutes} minutes."),
        ),
        _m("queue_wait_unknown", N_("queue_wait_unknown", "I can't tell how long it will take.")),
        _m(
            "utter_staff_joined",
            N_(
                "utter_staff_joined",
                "{staff_name} from the team has joined this chat.\n"
                "You are now writing with a person, not with the automated assistant.",
            ),
            safety_critical=True,
        ),
        _m(
            "utter_staff_left",
            N_(
                "utter_staff_left",
                "{staff_name} from the team has left this chat.\n"
                "You are chatting with the automated assistant again. "
                "To see what I can help with, send {menu_word}.",
            ),
            safety_critical=True,
        ),
        _m(
            "utter_handoff_transferred",
            N_(
                "utter_handoff_transferred",
                "One moment.\nAnother person from the team will join this chat. "
                "You will see their name when they do.",
            ),
            safety_critical=True,
        ),
        _m(
            "utter_handoff_closed",
            N_(
                "utter_handoff_closed",
                "This chat with the team has ended.\nThank you for writing. You can write "
                "here again at any time. The messages of this chat are erased {ttl_hours} "
                "hours after it ends; to erase them now, send {delete_word}.",
            ),
            safety_critical=True,
        ),
        _m(
            "utter_crisis_in_handoff",
            N_(
                "utter_crisis_in_handoff",
                "Automatic message.\nCall {emergency} if you are not safe now.\n"
                "{hotline_lines}\nThe team will read your message too.",
            ),
            safety_critical=True,
        ),
        _m(
            "utter_with_person_now",
            N_(
                "utter_with_person_now",
                "Automatic message.\nYou are writing with {staff_name} from the team. "
                "To go back to the automated assistant, send {back_word}.",
            ),
            safety_critical=True,
        ),
        _m(
            "utter_handoff_declined",
            N_(
                "utter_handoff_declined",
                "OK.\nNobody will be asked to join. "
                "I can still share information: send {menu_word}.",
            ),
            safety_critical=True,
        ),
        _m(
            "utter_queued_ack",
            N_(
                "utter_queued_ack",
                "Message received.\nIt is kept for the team, and they will read it. "
                "To go back to the automated assistant, send {back_word}.",
            ),
            buttons=(Button("button_place", "/handoff_place"),),
            safety_critical=True,
        ),
        # More messages than BOT_CONTACT_RATE_MESSAGES in BOT_CONTACT_RATE_WINDOW_SECONDS: said
        # once per window (bot/conversation/rate.py). Danger, exit and delete words still work.
        _m(
            "utter_slow_down",
            N_(
                "utter_slow_down",
                "One moment.\nYou are sending many messages very fast, and I cannot answer all "
                "of them. Please wait a minute, then write again. If you are in danger, say so: "
                "that always gets an answer.",
            ),
            safety_critical=True,
        ),
        _m(
            "utter_slow_down_kept",
            N_(
                "utter_slow_down_kept",
                "One moment.\nYou are sending many messages very fast. I keep them and will "
                "answer them together in about a minute. If you are in danger, say so: that "
                "always gets an answer at once.",
            ),
            safety_critical=True,
        ),
        _m(
            "utter_slow_down_unread",
            N_(
                "utter_slow_down_unread",
                "One moment.\nYou sent more messages than I can keep at once: I could not read "
                "{count} of them. When I answer, please send again what matters most.",
            ),
            safety_critical=True,
        ),
        _m(
            "utter_slow_down_handoff",
            N_(
                "utter_slow_down_handoff",
                "One moment.\nYou are sending many messages very fast. They are all kept for "
                "the team. Please write a little more slowly, so the team can follow.",
            ),
            safety_critical=True,
        ),
        _m(
            "utter_back_to_bot",
            N_(
                "utter_back_to_bot",
                "OK.\nYou are chatting with the automated assistant again. "
                "To see what I can help with, send {menu_word}.",
            ),
            safety_critical=True,
        ),
        # --- Control commands (D6), language (H1), erasure (F4), errors. ---
        _m(
            "utter_language_menu",
            N_("utter_language_menu", "Language.\nWhich language do you prefer?"),
            question=True,
        ),
        _m("utter_language_set", N_("utter_language_set", "OK. I will write in English.")),
        _m(
            "utter_deleted",
            N_(
                "utter_deleted",
                "Done.\nI erased everything this service kept about you. {platform_keeps}",
            ),
            safety_critical=True,
        ),
        _m(
            "utter_stop",
            N_("utter_stop", "OK.\nThis chat is closed. You can write again any time."),
        ),
        _m("utter_pause", N_("utter_pause", "OK.\nTake your time. Write when you are ready.")),
        # Asked when the model reads a wish to leave or to erase: nothing irreversible happens on
        # a model's guess, only on the exact command or this explicit yes.
        _m(
            "utter_confirm_exit",
            N_(
                "utter_confirm_exit",
                "One question.\nDo you want to close this chat now? This conversation will be "
                "erased. Next time, {exit_word} closes it at once.",
            ),
            buttons=CONFIRM_EXIT,
            safety_critical=True,
            question=True,
        ),
        _m(
            "utter_confirm_delete",
            N_(
                "utter_confirm_delete",
                "One question.\nDo you want me to erase everything this service keeps about you? "
                "This cannot be undone.",
            ),
            buttons=CONFIRM_DELETE,
            safety_critical=True,
            question=True,
        ),
        _m(
            "utter_nothing_erased",
            N_(
                "utter_nothing_erased",
                "OK, nothing was closed or erased.\nI'm here. Send {menu_word} to see what I can "
                "help with.",
            ),
            safety_critical=True,
        ),
        _m(
            "exit_not_deleted_line",
            N_(
                "exit_not_deleted_line",
                "Some older messages could not be deleted. To remove them, delete this chat in "
                "Telegram.",
            ),
            safety_critical=True,
        ),
        _m(
            "utter_exit_whatsapp_note",
            N_(
                "utter_exit_whatsapp_note",
                "OK.\nI can't delete messages on your phone. To clear this chat: open it, tap "
                "the menu, then More and Clear chat.",
            ),
            safety_critical=True,
        ),
        _m(
            "utter_service_unavailable",
            N_(
                "utter_service_unavailable",
                "Sorry, something went wrong on our side.\n"
                "Call {emergency} if you are not safe now. {hotline_lines} "
                "To talk with a person from our team, send {person_word}.",
            ),
            safety_critical=True,
        ),
        _m(
            "utter_unsupported_message",
            N_(
                "utter_unsupported_message",
                "Sorry, I can only read text.\n"
                "Please write your message, or send {menu_word} to see the options.",
            ),
        ),
    )
}

# The web chat page around the messages (bot/channels/webchat/): labels, states and the quick
# exit. Neutral like everything else: the tab title and the heading show on a shared screen.
WEBCHAT_TEXTS: dict[str, str] = {
    "webchat_title": N_("webchat_title", "Chat"),
    "webchat_exit": N_("webchat_exit", "Quick exit"),
    "webchat_exit_hint": N_(
        "webchat_exit_hint", "To leave this page at once, press Esc or tap Quick exit."
    ),
    "webchat_log": N_("webchat_log", "Messages"),
    "webchat_you": N_("webchat_you", "You"),
    "webchat_them": N_("webchat_them", "Reply"),
    "webchat_input": N_("webchat_input", "Your message"),
    "webchat_send": N_("webchat_send", "Send"),
    "webchat_connecting": N_("webchat_connecting", "Connecting…"),
    "webchat_connected": N_("webchat_connected", "Connected."),
    "webchat_offline": N_("webchat_offline", "Connection lost. Trying again…"),
    "webchat_too_fast": N_("webchat_too_fast", "Please wait a moment, then send it again."),
    "webchat_busy": N_("webchat_busy", "The chat is busy. Please try again in a few minutes."),
    "webchat_ended": N_("webchat_ended", "This chat has ended."),
    "webchat_restart": N_("webchat_restart", "Start a new chat"),
    "webchat_no_script": N_(
        "webchat_no_script",
        "This chat needs JavaScript. If you are in danger now, call your local emergency number.",
    ),
}

# Generic words used inside texts: typed numbers and "or".
