/// The console's words in each language: every key has both (the switch makes a missing one a compile error).
public enum Text: String, Sendable, CaseIterable {
    case title, dashboard, accessLog, checkpoints, actions, language
    case treeSize, checkpointFirstSeen, lastEntry, entriesPerDayPurpose, entriesPerDayOutcome, entriesPerDayInstitution
    case refusalRatios, institution, queries, refused, ratio, openAnomalies, overdueDisputes, none, kind, evidence, day
    case dispute, furnisher, record, filed, deadline, noEntriesYet
    case search, subjectIdentifier, subjectKind, individual, business, any, purpose, outcome, from, to, results
    case index, time, action, subjects, reason, leafHash, verified, notVerified, open, next, exportCSV, exportJSONL
    case entry, fields, inclusionProof, proofSteps, checkedAgainst, verifiedExplain, notVerifiedExplain, canonicalBytes
    case forkTitle, forkExplain, forkDetected, earlierCheckpoint, laterCheckpoint
    case unreachableTitle, unverifiedTitle, seenCheckpoints, size, rootHash, signedNote, firstSeen
    case suspend, reinstate, licenceAction, operatorID, operatorIDHelp, confirm, confirmTitle, cancel, receipt, status
    case repairs, repair, approve, reject, note, requested, rectification, reviewRepair, actionFailed, submit, back
    case count, total, utcHover, unavailable

    /// The text in `language`.
    public func callAsFunction(_ language: Language) -> String {
        let (en, zh) = self.pair
        return language == .zh ? zh : en
    }

    private var pair: (String, String) {
        switch self {
        case .title: ("Bureau regulator's console", "征信监管控制台")
        case .dashboard: ("Dashboard", "概览")
        case .accessLog: ("Access log", "查询日志")
        case .checkpoints: ("Checkpoints", "检查点")
        case .actions: ("Actions", "监管操作")
        case .language: ("Language", "语言")
        case .treeSize: ("Entries in the log (tree size)", "日志条目数（树大小）")
        case .checkpointFirstSeen: ("Checkpoint first seen", "检查点首次看到")
        case .lastEntry: ("Newest entry", "最新条目")
        case .entriesPerDayPurpose: ("Entries per day by purpose", "每日条目（按查询目的）")
        case .entriesPerDayOutcome: ("Entries per day by outcome", "每日条目（按结果）")
        case .entriesPerDayInstitution: ("Entries per day by institution", "每日条目（按机构）")
        case .refusalRatios: ("Refusal ratios (queries refused)", "拒绝比例（被拒绝的查询）")
        case .institution: ("Institution", "机构")
        case .queries: ("Queries", "查询数")
        case .refused: ("Refused", "被拒绝")
        case .ratio: ("Ratio", "比例")
        case .openAnomalies: ("Open anomalies (today)", "未处理异常（今日）")
        case .overdueDisputes: ("Overdue disputes", "逾期异议")
        case .none: ("None", "无")
        case .kind: ("Kind", "类型")
        case .evidence: ("Evidence", "证据")
        case .day: ("Day (UTC)", "日期（UTC）")
        case .dispute: ("Dispute", "异议")
        case .furnisher: ("Furnisher", "数据提供机构")
        case .record: ("Record", "记录")
        case .filed: ("Filed", "提出日期")
        case .deadline: ("Deadline", "截止日期")
        case .noEntriesYet: ("No verified entries yet.", "尚无已验证的条目。")
        case .search: ("Search", "搜索")
        case .subjectIdentifier: ("Subject identifier (hashed by the bureau)", "信息主体证件号（由征信机构哈希）")
        case .subjectKind: ("Subject kind", "主体类型")
        case .individual: ("Individual", "个人")
        case .business: ("Business", "企业")
        case .any: ("Any", "任意")
        case .purpose: ("Purpose", "查询目的")
        case .outcome: ("Outcome", "结果")
        case .from: ("From (UTC)", "起（UTC）")
        case .to: ("To (UTC)", "止（UTC）")
        case .results: ("Results", "结果")
        case .index: ("Index", "序号")
        case .time: ("Time", "时间")
        case .action: ("Action", "操作")
        case .subjects: ("Subjects (keyed hash)", "信息主体（密钥哈希）")
        case .reason: ("Reason", "原因")
        case .leafHash: ("Leaf hash", "叶哈希")
        case .verified: ("Verified", "已验证")
        case .notVerified: ("NOT verified", "未验证")
        case .open: ("Open", "打开")
        case .next: ("Next page", "下一页")
        case .exportCSV: ("Export CSV", "导出 CSV")
        case .exportJSONL: ("Export JSON Lines", "导出 JSON Lines")
        case .entry: ("Entry", "条目")
        case .fields: ("Fields", "字段")
        case .inclusionProof: ("Inclusion proof", "包含证明")
        case .proofSteps: ("Proof hashes", "证明哈希")
        case .checkedAgainst: ("Checked against the signed checkpoint", "已对照签名检查点验证")
        case .verifiedExplain: (
            "This console hashed the entry's bytes and checked the inclusion proof against a checkpoint whose signature it verified with the configured key.",
            "本控制台对条目字节计算哈希，并以已用配置公钥验证签名的检查点核对了包含证明。"
        )
        case .notVerifiedExplain: (
            "This entry did not verify against the signed checkpoint: do not rely on it.",
            "此条目未能对照签名检查点通过验证：请勿依赖。"
        )
        case .canonicalBytes: ("Canonical bytes", "规范字节")
        case .forkTitle: ("FORK: the bureau has shown two logs that cannot both be true", "分叉：征信机构展示了两个互不一致的日志")
        case .forkExplain: (
            "Two checkpoints, both signed with the bureau's key, are not consistent: the past of the log was rewritten or the bureau shows different logs to different viewers. The evidence is kept in the checkpoint memory file.",
            "两个均由征信机构密钥签名的检查点互不一致：日志的历史被改写，或向不同查看者展示了不同的日志。证据已保存在检查点记录文件中。"
        )
        case .forkDetected: ("Detected", "发现时间")
        case .earlierCheckpoint: ("Earlier checkpoint", "较早的检查点")
        case .laterCheckpoint: ("Later checkpoint", "较晚的检查点")
        case .unreachableTitle: ("bureaud cannot be reached: what is shown may be out of date", "无法连接 bureaud：显示的内容可能已过时")
        case .unverifiedTitle: ("The log did not verify: nothing new is shown", "日志未通过验证：不显示任何新内容")
        case .seenCheckpoints: ("Checkpoints this console has seen", "本控制台看到过的检查点")
        case .size: ("Size", "大小")
        case .rootHash: ("Root hash", "根哈希")
        case .signedNote: ("Signed note", "签名记录")
        case .firstSeen: ("First seen", "首次看到")
        case .suspend: ("Suspend licence", "暂停许可")
        case .reinstate: ("Reinstate licence", "恢复许可")
        case .licenceAction: ("Suspend or reinstate a licence", "暂停或恢复许可")
        case .operatorID: ("Your analyst id", "您的分析员编号")
        case .operatorIDHelp: ("Logged with the action.", "将随操作记入日志。")
        case .confirm: ("Confirm", "确认")
        case .confirmTitle: ("Confirm this action", "确认此操作")
        case .cancel: ("Cancel", "取消")
        case .receipt: ("Receipt of the logged action", "已记录操作的回执")
        case .status: ("Status", "状态")
        case .repairs: ("Repair requests waiting for review", "待审核的修复请求")
        case .repair: ("Repair", "修复请求")
        case .approve: ("Approve", "批准")
        case .reject: ("Reject", "驳回")
        case .note: ("Note", "说明")
        case .requested: ("Requested", "申请日期")
        case .rectification: ("Rectification", "更正内容")
        case .reviewRepair: ("Review repair", "审核修复请求")
        case .actionFailed: ("The bureau refused the action", "征信机构拒绝了该操作")
        case .submit: ("Continue", "继续")
        case .back: ("Back", "返回")
        case .count: ("Count", "数量")
        case .total: ("Total", "合计")
        case .utcHover: ("Times in your time zone; UTC on hover.", "时间以您的时区显示；悬停可见 UTC。")
        case .unavailable: ("unavailable", "不可用")
        }
    }
}
