//! The listings still before or in disclosure: with registrations, a long capital increase,
//! suspended, terminated, returned, submitted and a draft.

use super::{
    Act, CHEN, LI, LIU, ListingPlan, Periods, QIU, Terms, WU, When, XIHU, YONGJIANG, ZHANG,
    ZJ_LOGISTICS, approved_days_ago, enrol, join, mins, plan, step,
};
use crate::domain::listing::ListingKind::{
    AssetTransfer as Asset, CapitalIncrease as Capital, EquityTransfer as Equity,
};
use crate::domain::listing::ListingStatus as S;

/// Disclosure with registrations, two of them related (same e-mail domain).
pub(super) fn disclosure_with_registrations(p: &Periods) -> ListingPlan {
    plan(
        p,
        Terms {
            seller: XIHU,
            kind: Equity,
            title: "杭州某国有企业51%股权转让",
            description: "标的企业位于杭州市西湖区，主营建筑材料生产与销售，注册资本1.2亿元。\
                转让方持有其51%股权，本次转让后不再持有标的企业股权。标的企业现有职工218人，\
                职工安置方案已经职工代表大会审议通过。意向受让方须具备建材行业经营经验，\
                且最近一期经审计净资产不低于3亿元。",
            appraised: 28_560_000,
            price: 28_600_000,
            deposit: 5_000_000,
            increment: 100_000,
            free: 1800,
        },
        S::Disclosure,
        join(vec![
            approved_days_ago(8),
            enrol(&[LIU, LI, WU], &[LIU, LI]),
        ])
        .into_iter()
        .filter(|s| s.act != Act::Qualify(WU))
        .collect(),
    )
}

/// A capital increase in its long (40 working days) disclosure.
pub(super) fn capital_increase(p: &Periods) -> ListingPlan {
    plan(
        p,
        Terms {
            seller: ZJ_LOGISTICS,
            kind: Capital,
            title: "某国有新能源科技公司增资扩股项目",
            description: "增资企业主营储能电池系统集成及光伏电站运维，注册资本2亿元，为浙江交通物流发展集团有限公司全资子公司。\
                本次拟新增注册资本不超过1亿元，引入1—2家战略投资者，募集资金用于储能电池生产线建设。\
                增资完成后原股东持股比例不低于60%。意向投资方须具有新能源产业背景或相关产业资源。",
            appraised: 120_000_000,
            price: 120_000_000,
            deposit: 12_000_000,
            increment: 1_000_000,
            free: 1800,
        },
        S::Disclosure,
        join(vec![
            approved_days_ago(15),
            vec![
                step(When::Next(3, (10, 15)), Act::Register(CHEN)),
                step(When::Next(2, (14, 0)), Act::Qualify(CHEN)),
                step(When::Next(4, (9, 50)), Act::Register(ZHANG)),
            ],
        ]),
    )
}

/// Suspended during disclosure after an objection.
pub(super) fn suspended(p: &Periods) -> ListingPlan {
    plan(
        p,
        Terms {
            seller: YONGJIANG,
            kind: Asset,
            title: "某国有企业位于北仑区的加油站资产转让",
            description: "标的为位于宁波市北仑区国道旁的加油站一座，包括土地使用权（面积2680平方米）、\
                站房、罩棚、油罐及加油设备等。标的现由第三方承包经营，承包合同将于挂牌期满前终止。\
                受让方须具备成品油零售经营资格或承诺在受让后依法取得。",
            appraised: 3_260_000,
            price: 3_300_000,
            deposit: 500_000,
            increment: 10_000,
            free: 1800,
        },
        S::Suspended,
        join(vec![
            approved_days_ago(6),
            vec![
                step(When::Next(1, (11, 10)), Act::Register(CHEN)),
                step(
                    When::DaysAgo(2, (16, 20)),
                    Act::Suspend(
                        "收到第三方关于标的土地使用权归属的书面异议，暂停信息披露，待转让方核实后恢复。",
                    ),
                ),
            ],
        ]),
    )
}

/// Terminated during disclosure at the seller's request.
pub(super) fn terminated(p: &Periods) -> ListingPlan {
    plan(
        p,
        Terms {
            seller: ZJ_LOGISTICS,
            kind: Equity,
            title: "某国有文化传媒公司100%股权转让",
            description: "标的企业主营户外广告及会展服务，注册资本1000万元，转让方持有其100%股权。\
                标的企业持有杭州市区户外广告位经营权23处。受让方须承诺受让后继续履行标的企业\
                现有广告发布合同，并妥善安置现有职工。",
            appraised: 5_160_000,
            price: 5_200_000,
            deposit: 1_000_000,
            increment: 20_000,
            free: 1800,
        },
        S::Terminated,
        join(vec![
            approved_days_ago(12),
            vec![
                step(When::Next(2, (9, 55)), Act::Register(QIU)),
                step(
                    When::DaysAgo(4, (17, 30)),
                    Act::Terminate(
                        "转让方上级国资监管机构批复撤回本次转让事项，经转让方申请，终止挂牌。",
                    ),
                ),
            ],
        ]),
    )
}

/// Returned to the seller for more documents.
pub(super) fn returned(p: &Periods) -> ListingPlan {
    plan(
        p,
        Terms {
            seller: XIHU,
            kind: Asset,
            title: "杭州某国有企业仓储用房及配套土地使用权转让",
            description: "标的位于杭州市余杭区良渚街道，包括仓储用房3栋（建筑面积合计6840平方米）及配套土地使用权\
                （面积9120平方米）。标的现为转让方自用，成交后3个月内腾空交付。",
            appraised: 6_830_000,
            price: 6_900_000,
            deposit: 1_000_000,
            increment: 20_000,
            free: 1800,
        },
        S::Returned,
        vec![
            step(When::DaysAgo(5, (10, 0)), Act::Create),
            step(When::Later(mins(70)), Act::Submit),
            step(
                When::Next(1, (15, 0)),
                Act::Return(
                    "评估报告未附土地使用权证及规划许可文件，请补充后重新提交；挂牌公告中交付期限表述不清，请明确。",
                ),
            ),
        ],
    )
}

/// Submitted, waiting for review.
pub(super) fn submitted(p: &Periods) -> ListingPlan {
    plan(
        p,
        Terms {
            seller: ZJ_LOGISTICS,
            kind: Capital,
            title: "某国有交通物流企业增资扩股项目（引入战略投资者）",
            description: "增资企业为浙江交通物流发展集团有限公司控股的港口物流企业，注册资本3亿元。\
                本次拟新增注册资本不超过1.5亿元，募集资金用于冷链物流园区建设。\
                意向投资方须为国内大型物流、港航或供应链企业。",
            appraised: 68_000_000,
            price: 68_000_000,
            deposit: 6_800_000,
            increment: 200_000,
            free: 1800,
        },
        S::Submitted,
        vec![
            step(When::DaysAgo(2, (14, 0)), Act::Create),
            step(When::Next(1, (9, 30)), Act::Submit),
        ],
    )
}

/// Draft, not yet submitted.
pub(super) fn draft(p: &Periods) -> ListingPlan {
    plan(
        p,
        Terms {
            seller: YONGJIANG,
            kind: Asset,
            title: "宁波某国有企业闲置公务车辆一批（12台）转让",
            description: "标的为公务用车制度改革后封存的公务车辆12台，包括轿车9台、商务车3台，\
                2015—2019年注册登记，车况详见车辆检测报告。",
            appraised: 386_000,
            price: 386_000,
            deposit: 50_000,
            increment: 2_000,
            free: 1800,
        },
        S::Draft,
        vec![step(When::DaysAgo(1, (16, 40)), Act::Create)],
    )
}
