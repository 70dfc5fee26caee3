#!/usr/bin/env python3
"""Writes points-accrual.json beside this file: the points-accrual rule
(plugins/points-accrual) as a GoRules JDM decision for zen-engine, the peer of
`rulebox-bench --only peers` (tests/src/bench/peers.rs).

    python3 tests/peers/zen-points/generate.py

Input: {"event": <Event>, "member": <MemberView>, "config": <the rule's configuration>},
the JSON forms of the SDK types. Output: {"outcome": {"Ok": [effects]} | {"Err": error}},
the JSON form of the rule's Result<Vec<Effect>, RuleError>.

The graph: request -> settings (expressions: defaults, campaign weekday check, local
weekday and hour, the best campaign, tier multiplier, expiry) -> switch on the event kind
-> purchase (expressions: line values and multipliers, rounding once, reason) or flat
points (a decision table: sign-up, check-in, review, referral level) -> awards
(expressions: daily cap, zero awards dropped, effects) -> response.

What differs from the Rust rule: configuration validation covers only campaign weekdays
(the rule checks every key); negative amounts and overflow are not checked (ZEN numbers
are 96-bit decimals); at most four distinct line-multiplier labels appear in a reason
(ZEN has no join) and reasons are not shortened to 1 KiB.
"""

import json
import os

def expr_node(id, name, exprs, output_path=None, pass_through=True):
    return {
        "id": id, "name": name, "type": "expressionNode",
        "position": {"x": 0, "y": 0},
        "content": {
            "expressions": [{"id": f"{id}-{i}", "key": k, "value": v} for i, (k, v) in enumerate(exprs)],
            "passThrough": pass_through,
            "inputField": None,
            "outputPath": output_path,
            "executionMode": "single",
        },
    }

def dec(p):
    """ZEN for accrual::decimal: hundredths as a short decimal (150 -> "1.5", 105 -> "1.05").
    string(150 / 100) would give "1.50": ZEN numbers are decimals that keep their scale."""
    w = f"string(floor(({p}) / 100))"
    f = f"(({p}) % 100)"
    return (f"({f} == 0 ? {w} : ({f} % 10 == 0 ? {w} + '.' + string(floor({f} / 10)) : "
            f"{w} + '.' + ({f} < 10 ? '0' : '') + string({f})))")

DAYS = "{mon: 0, monday: 0, tue: 1, tuesday: 1, wed: 2, wednesday: 2, thu: 3, thursday: 3, fri: 4, friday: 4, sat: 5, saturday: 5, sun: 6, sunday: 6}"

settings = expr_node("settings", "settings", [
    ("days", DAYS),
    ("campaigns", "config.campaigns ?? []"),
    ("bad", "filter(keys($.campaigns) as i, some($.campaigns[i].weekdays ?? [] as w, $.days[lower(w)] == null))"),
    ("error", "len($.bad) == 0 ? null : 'campaigns[' + string($.bad[0]) + '] (\"' + $.campaigns[$.bad[0]].name + '\").weekdays: \"' + filter($.campaigns[$.bad[0]].weekdays as w, $.days[lower(w)] == null)[0] + '\" is not a weekday; use Mon, Tue, Wed, Thu, Fri, Sat or Sun'"),
    ("offset_ms", "(config.utc_offset_minutes ?? 480) * 60000"),
    ("local", "event.occurred_at + $.offset_ms"),
    ("weekday", "(floor($.local / 86400000) + 3) % 7"),
    ("hour", "floor(($.local % 86400000) / 3600000)"),
    ("applying", "filter($.campaigns as c, c.from <= event.occurred_at and event.occurred_at < c.until and (len(c.weekdays ?? []) == 0 or some(c.weekdays as w, $.days[lower(w)] == $.weekday)) and (c.hours == null or (c.hours.from <= $.hour and $.hour < c.hours.until)))"),
    ("best", "len($.applying) == 0 ? null : filter($.applying as c, c.multiplier == max(map($.applying, #.multiplier)))[0]"),
    ("tier_pct", "(config.tier_multipliers ?? {})[member.tier] ?? 100"),
    ("rate_points", "config.rate.points ?? 1"),
    ("rate_per", "config.rate.per ?? 100"),
    ("currency", "config.currency_symbol ?? '¥'"),
    ("cap", "config.daily_cap ?? 0"),
    ("expires_at", "config.expiry_months == null ? null : d($.local, 'UTC').add(config.expiry_months, 'month').endOf('month').timestamp() - $.offset_ms"),
], output_path="s")

switch = {
    "id": "kind", "name": "event kind", "type": "switchNode", "position": {"x": 0, "y": 0},
    "content": {
        "hitPolicy": "first",
        "statements": [
            {"id": "is-purchase", "condition": "event.kind.Purchase != null"},
            {"id": "otherwise", "condition": ""},
        ],
    },
}

purchase = expr_node("purchase", "purchase points", [
    ("p", "event.kind.Purchase"),
    ("pm", "config.product_multipliers ?? {}"),
    ("cm", "config.category_multipliers ?? {}"),
    ("lines", "map($.p.lines as l, {v: l.quantity * l.unit_price, pct: $.pm[l.product_id] ?? $.cm[l.category] ?? 100, label: $.pm[l.product_id] != null ? l.product_id : ($.cm[l.category] != null ? l.category : null)})"),
    ("value", "sum(map($.lines, #.v))"),
    ("weighted", "sum(map($.lines, #.v * #.pct))"),
    ("labelled", "map(filter($.lines, #.label != null and #.pct != 100 and #.v > 0), #.label + ' ×' + " + dec("#.pct") + ")"),
    ("labels", "map(filter(keys($.labelled) as i, not some(keys($.labelled) as j, j < i and $.labelled[j] == $.labelled[i])) as i, $.labelled[i])"),
    ("empty", "$.value == 0"),
    ("num", "$.p.paid * ($.empty ? 100 : $.weighted) * s.tier_pct * (s.best.multiplier ?? 100) * s.rate_points"),
    ("den", "($.empty ? 1 : $.value) * 1000000 * s.rate_per"),
    ("rounding", "config.rounding ?? 'down'"),
    ("points", "$.rounding == 'up' ? ceil($.num / $.den) : ($.rounding == 'nearest' ? floor($.num / $.den + 0.5) : floor($.num / $.den))"),
    # ZEN has no join(): the first four distinct labels, which covers any realistic order.
    ("labels_text", "$.empty or len($.labels) == 0 ? '' : ' (' + $.labels[0] + (len($.labels) > 1 ? ', ' + $.labels[1] : '') + (len($.labels) > 2 ? ', ' + $.labels[2] : '') + (len($.labels) > 3 ? ', ' + $.labels[3] : '') + ')'"),
    ("reason", "'purchase ' + $.p.order_id + ': ' + string(s.rate_points) + 'pt/' + s.currency + " + dec("s.rate_per") + " + (s.tier_pct != 100 ? ' ×' + " + dec("s.tier_pct") + " + ' ' + member.tier : '') + (s.best != null ? ' ×' + " + dec("s.best.multiplier") + " + ' ' + s.best.name : '') + $.labels_text"),
    ("awards", "filter([{points: $.points, reason: $.reason}, member.lifetime.orders == 1 ? {points: config.first_purchase_bonus ?? 0, reason: 'first purchase bonus (order ' + $.p.order_id + ')'} : null], # != null)"),
], output_path="a")

def rule(id, kind, photo, level, awards, error):
    return {"_id": id, "in-kind": kind, "in-photo": photo, "in-level": level, "out-awards": awards, "out-error": error}

flat = {
    "id": "flat", "name": "flat points", "type": "decisionTableNode", "position": {"x": 0, "y": 0},
    "content": {
        "hitPolicy": "first",
        "inputs": [
            {"id": "in-kind", "name": "Event kind", "field": "keys(event.kind)[0]"},
            {"id": "in-photo", "name": "Review has photo", "field": "event.kind.ReviewPosted.has_photo"},
            {"id": "in-level", "name": "Referral level", "field": "event.kind.ReferralAccepted.level"},
        ],
        "outputs": [
            {"id": "out-awards", "name": "Awards", "field": "awards"},
            {"id": "out-error", "name": "Error", "field": "error"},
        ],
        "rules": [
            rule("sign-up", "'SignUp'", "", "", "[{points: config.sign_up_points ?? 0, reason: 'sign-up bonus (' + event.kind.SignUp.channel + ')'}]", "null"),
            rule("check-in", "'CheckIn'", "", "", "[{points: config.check_in_points ?? 0, reason: event.kind.CheckIn.store_id != null ? 'check-in at store ' + event.kind.CheckIn.store_id : 'check-in'}]", "null"),
            rule("review-photo", "'ReviewPosted'", "true", "", "[{points: (config.review_points ?? 0) + (config.review_photo_bonus ?? 0), reason: 'review ' + event.kind.ReviewPosted.review_id + ' with photos'}]", "null"),
            rule("review", "'ReviewPosted'", "", "", "[{points: config.review_points ?? 0, reason: 'review ' + event.kind.ReviewPosted.review_id}]", "null"),
            rule("referral", "'ReferralAccepted'", "", "[1..3]", "[{points: (config.referral_points ?? [0, 0, 0])[event.kind.ReferralAccepted.level - 1], reason: 'referral of ' + event.kind.ReferralAccepted.invitee_id + ' (level ' + string(event.kind.ReferralAccepted.level) + ')'}]", "null"),
            rule("bad-referral", "'ReferralAccepted'", "", "", "[]", "{InvalidInput: 'referral level ' + string(event.kind.ReferralAccepted.level) + ' is outside 1..=3'}"),
            rule("unsupported", "", "", "", "[]", "{Unsupported: 'points-accrual does not handle ' + keys(event.kind)[0] + ' events'}"),
        ],
        "passThrough": True,
        "inputField": None,
        "outputPath": "a",
        "executionMode": "single",
    },
}

awards = expr_node("awards", "awards", [
    ("error", "s.error != null ? {InvalidConfig: s.error} : a.error"),
    ("list", "a.awards"),
    ("room", "max([s.cap - max([member.today.points_earned, 0]), 0])"),
    # apply_daily_cap: greedy in order, so what has been granted before award i is
    # min(room, points of the awards before it).
    ("capped", "s.cap > 0 ? map(keys($.list) as i, {p: $.list[i].points, g: min([$.room, sum(map(filter(keys($.list) as j, j <= i) as j, $.list[j].points))]) - min([$.room, sum(map(filter(keys($.list) as j, j < i) as j, $.list[j].points))]), reason: $.list[i].reason}) : map($.list, {p: #.points, g: #.points, reason: #.reason})"),
    ("outcome", "$.error != null ? {Err: $.error} : {Ok: map(filter($.capped, #.g > 0), {AwardPoints: {amount: #.g, reason: #.g < #.p ? #.reason + '; ' + string(#.g) + ' of ' + string(#.p) + ' points, daily cap ' + string(s.cap) + ' reached' : #.reason, expires_at: s.expires_at}})}"),
], pass_through=False)

graph = {
    "nodes": [
        {"id": "request", "name": "request", "type": "inputNode", "position": {"x": 0, "y": 0}, "content": {}},
        settings, switch, purchase, flat, awards,
        {"id": "response", "name": "response", "type": "outputNode", "position": {"x": 0, "y": 0}, "content": {}},
    ],
    "edges": [
        {"id": "e1", "sourceId": "request", "targetId": "settings", "type": "edge"},
        {"id": "e2", "sourceId": "settings", "targetId": "kind", "type": "edge"},
        {"id": "e3", "sourceId": "kind", "targetId": "purchase", "sourceHandle": "is-purchase", "type": "edge"},
        {"id": "e4", "sourceId": "kind", "targetId": "flat", "sourceHandle": "otherwise", "type": "edge"},
        {"id": "e5", "sourceId": "purchase", "targetId": "awards", "type": "edge"},
        {"id": "e6", "sourceId": "flat", "targetId": "awards", "type": "edge"},
        {"id": "e7", "sourceId": "awards", "targetId": "response", "type": "edge"},
    ],
}
out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "points-accrual.json")
with open(out, "w", encoding="utf-8") as f:
    f.write(json.dumps(graph, indent=2, ensure_ascii=False) + "\n")
