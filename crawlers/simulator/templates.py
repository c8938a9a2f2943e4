"""Text templates for the synthetic corpus: for each problem type its specific issues (each with
several wordings), noise of every kind, and the small vocabularies the templates draw from.

Contract: every problem template (FRAMES, Issue.bodies, Issue.titles) uses only the slots {loc}
{spot} {dur} {when} {harm} {ask} {what}, so corpus.py can fill any of them with one `str.format`
call; an Issue's whats and harms have no slots. Noise templates use {place} {street} {district}
{n} {k} {c} {x}. Wording is deliberately varied (colloquial, reporter style, terse) so repeated
posts about one problem read like different people wrote them, while all of them tell the same
issue at the same place.
"""
from __future__ import annotations

from typing import NamedTuple

# --- problem types -------------------------------------------------------------------------
#
# A problem is one specific issue (an `Issue` of its type) at one specific place. Every post
# about it paraphrases that issue: a frame (FRAMES) around one of the issue's `whats`, with one
# of its `harms` (who is hurt, how), or one of its own `bodies`. Issue vocabulary stays inside
# the type's category of config/categories.yaml (盲道 and 护栏 are 交通运输, so they are road
# damage; a 公厕 is 城市管理, so it is a sanitation issue).

ROAD, ESTATE, METRO, LANDMARK, COMMUNITY = "road", "estate", "metro", "landmark", "community"
_HOMES = frozenset({ESTATE, COMMUNITY})
_PUBLIC = frozenset({ROAD, METRO, LANDMARK, COMMUNITY})
_NOT_ROAD = frozenset({ESTATE, METRO, LANDMARK, COMMUNITY})


class Issue(NamedTuple):
    key: str                          # unique over all types: what the problem is, e.g. "井盖松动"
    kinds: frozenset[str] | None      # place kinds it happens at (None = any)
    whats: tuple[str, ...]            # clause describing it, fits every FRAMES entry
    harms: tuple[str, ...]
    titles: tuple[str, ...]
    bodies: tuple[str, ...] = ()      # extra whole-post wordings


ISSUES: dict[str, tuple[Issue, ...]] = {
    "road_damage": (
        Issue("大坑", None,
              ("路面有个大坑", "路中间一个大坑，越来越大", "路面坑坑洼洼的，有个大坑"),
              ("好几辆电动车在坑里摔了", "晚上骑车特别危险", "车子过去底盘都刮了", "已经有人摔伤了"),
              ("{loc}路面有大坑，谁来管管？", "{loc}的大坑{dur}没人修"),
              ("有人知道{loc}{spot}那个大坑什么时候修吗？{harm}",)),
        Issue("井盖松动", None,
              ("井盖松动了，车一压就哐哐响", "有个井盖松了，踩上去会翘起来", "路面井盖松动，一直晃"),
              ("半夜车压过去响得吓人", "小孩踩上去差点掉下去", "电动车压过去差点翻车", "路过都得绕着走"),
              ("{loc}井盖松动太危险", "{loc}松动的井盖谁来修？")),
        Issue("路面塌陷", None,
              ("路面塌陷了一块", "路面突然塌下去一大块", "路面下沉塌陷，已经开裂"),
              ("车辆只能绕行", "塌陷越来越大", "行人差点踩空", "旁边的车都不敢靠近"),
              ("{loc}路面塌陷{dur}没人修", "{loc}道路塌陷，太危险了")),
        Issue("修路未填平", None,
              ("修路挖开以后一直没填平", "道路挖开了又不填平，坑洼一片", "修路挖的沟没填平，就用铁板盖着"),
              ("车辆经过颠得厉害", "行人只能踩着泥走", "早高峰堵车更严重了", "骑车经过差点摔"),
              ("{loc}修路挖开不填平", "{loc}道路挖开{dur}没人管")),
        Issue("盲道被破坏", _PUBLIC,
              ("盲道被破坏得不成样子", "盲道砖块碎了一地，还断了好几截", "盲道坑坑洼洼，断断续续"),
              ("视障朋友根本没法走", "推婴儿车都容易卡住", "老人走路很容易绊倒"),
              ("{loc}盲道被破坏", "{loc}的盲道谁来修？")),
        Issue("护栏断裂", frozenset({ROAD, METRO, LANDMARK}),
              ("道路护栏断了好几截", "护栏被撞断了，歪在路边", "路边的护栏断裂倒地"),
              ("行人随时可能被车刮到", "电动车直接从缺口穿过去", "晚上看不见容易撞上"),
              ("{loc}护栏断裂没人修", "{loc}道路护栏被撞断")),
    ),
    "illegal_parking": (
        Issue("人行道违停", _PUBLIC,
              ("人行道上停满了车", "天天有车违停在人行道上", "人行道被乱停的车占满了"),
              ("行人只能走机动车道", "推婴儿车都没法走", "老人只能从车缝里挤过去"),
              ("{loc}人行道停满车", "投诉{loc}人行道违停"),
              ("{loc}{spot}人行道上停满了车，{harm}，交警能不能来贴条？",)),
        Issue("僵尸车", None,
              ("有辆僵尸车停了好久没人挪", "好几辆僵尸车占着车位，轮胎都瘪了", "僵尸车停在路边一直没人挪车"),
              ("占着车位别人都没法停车", "车身全是灰，还招蚊子", "看着又脏又危险"),
              ("{loc}僵尸车{dur}没人管", "{loc}的僵尸车谁来拖走？")),
        Issue("占道停车堵路", frozenset({ROAD, COMMUNITY, LANDMARK, METRO}),
              ("路边双排停车，占道停车太严重", "车辆乱停乱放把路堵死了", "一到晚上就有车占道停车"),
              ("公交车都过不去", "早高峰堵得一动不动", "出入口被堵得死死的"),
              ("{loc}乱停车堵路", "{loc}占道停车严重")),
    ),
    "noise": (
        Issue("酒吧噪音", frozenset({ROAD, LANDMARK, COMMUNITY, METRO}),
              ("酒吧音乐震天响，吵到凌晨", "几家酒吧每晚音响开得特别大", "酒吧街每天半夜还在放音乐，太吵了"),
              ("老人小孩都休息不好", "第二天还要上班", "人都快神经衰弱了"),
              ("{loc}酒吧噪音扰民", "求助：{loc}酒吧太吵了")),
        Issue("广场舞噪音", frozenset({ESTATE, COMMUNITY, LANDMARK}),
              ("广场舞音响开得特别大，噪音扰民", "每晚跳广场舞，音响吵得不行", "广场舞大音响从七点吵到十点"),
              ("孩子要高考了", "孩子写作业都没法集中", "上夜班的人白天也睡不了"),
              ("{loc}广场舞噪音扰民", "{loc}广场舞音响太吵")),
        Issue("工地夜间施工", None,
              ("工地夜间施工，噪音很大", "工地半夜施工，打桩声吵得睡不着", "工地通宵施工，机器轰鸣"),
              ("整栋楼都在投诉", "第二天还要上班", "老人小孩都休息不好"),
              ("{loc}工地夜间施工扰民", "{loc}半夜施工噪音谁来管")),
        Issue("炸街", frozenset({ROAD, COMMUNITY, LANDMARK}),
              ("天天有车炸街，轰鸣声吵死人", "半夜有摩托车炸街", "改装车炸街，轰鸣一阵接一阵"),
              ("孩子都被吓醒了", "人都快神经衰弱了", "一晚上被吵醒好几次"),
              ("{loc}深夜炸街扰民", "{loc}炸街噪音太吵")),
        Issue("夜宵摊噪音", frozenset({ROAD, COMMUNITY, ESTATE, METRO}),
              ("夜宵摊吵到凌晨两三点", "夜宵摊划拳喝酒，吵得睡不着", "楼下夜宵摊每晚都很吵"),
              ("第二天还要上班", "老人小孩都休息不好", "窗户关上都没用"),
              ("{loc}夜宵摊噪音扰民", "{loc}夜宵摊太吵了")),
    ),
    "garbage": (
        Issue("垃圾堆积", None,
              ("垃圾堆成山，没人清运", "垃圾桶满了溢出来，没人清理", "生活垃圾堆积如山"),
              ("垃圾越堆越多", "苍蝇蚊子到处飞", "老鼠都出来了", "天一热味道更大"),
              ("{loc}垃圾无人清理", "{loc}垃圾堆积没人清运")),
        Issue("乱倒建筑垃圾", None,
              ("有人乱倒建筑垃圾", "建筑垃圾渣土随便堆放", "装修的建筑垃圾倒得到处都是"),
              ("灰尘到处飞", "路都被占了一半", "越堆越多"),
              ("{loc}乱倒建筑垃圾", "{loc}建筑垃圾堆放没人管")),
        Issue("公厕脏乱", _PUBLIC,
              ("公厕脏乱差，好久没人打扫", "公厕脏乱差，地上全是污渍", "公共厕所脏乱差，没人打扫"),
              ("路过都要捂鼻子", "游客都不敢进去", "蚊虫到处飞"),
              ("{loc}公厕脏乱差", "{loc}公厕没人打扫")),
    ),
    "streetlight": (
        Issue("路灯不亮", None,
              ("路灯不亮，晚上黑漆漆的", "一排路灯都不亮", "晚上一盏灯都没有，路灯全坏了"),
              ("女生晚上回家很害怕", "晚上骑车看不清路", "差点撞到人"),
              ("{loc}路灯不亮", "{loc}晚上一片漆黑，路灯坏了")),
        Issue("路灯闪烁", None,
              ("路灯坏了，一闪一闪的", "路灯坏了，忽明忽暗一直闪", "几盏路灯坏了，不停地闪"),
              ("晃得眼睛难受", "开车经过很不安全", "看着怪吓人的"),
              ("{loc}路灯一直闪", "{loc}路灯忽明忽暗")),
        Issue("路灯杆歪斜", frozenset({ROAD, COMMUNITY, LANDMARK, METRO}),
              ("路灯杆被撞歪了", "有根路灯杆歪得厉害，随时要倒", "路灯杆倾斜，底座都松了"),
              ("随时可能砸到人", "行人都绕着走", "刮风的时候晃得厉害"),
              ("{loc}路灯杆歪斜", "{loc}路灯杆快倒了")),
    ),
    "fire_hazard": (
        Issue("飞线充电", _HOMES,
              ("电动车飞线充电，楼道充电太普遍了", "有人私拉电线给电动车充电", "楼道里全是电动车充电的插线板"),
              ("万一着火后果不堪设想", "出了事谁负责", "一旦起火人都跑不出来"),
              ("{loc}飞线充电太危险", "{loc}楼道充电消防隐患")),
        Issue("消防通道堵塞", frozenset({ESTATE, COMMUNITY, LANDMARK}),
              ("消防通道被杂物堵死", "安全出口和消防通道堆满杂物", "消防通道上堆满纸箱和旧家具"),
              ("万一着火消防车根本进不来", "太危险了", "一旦起火人都跑不出来"),
              ("{loc}消防通道被堵", "{loc}消防通道堆满杂物")),
        Issue("消防设施失效", _NOT_ROAD,
              ("消防栓坏了，灭火器也过期了", "灭火器全过期了，消防栓没水", "消防设施形同虚设，灭火器都是空的"),
              ("真着火了怎么办", "消防隐患太大了", "出了事谁负责"),
              ("{loc}消防栓损坏灭火器过期", "{loc}消防设施失效")),
    ),
    "water_leak": (
        Issue("水管爆裂", None,
              ("水管爆了，水哗哗地流", "自来水管破裂，地下一直冒水", "爆管了，水漫了一地"),
              ("白白浪费好多水", "路面都被泡了", "水流了一地"),
              ("{loc}水管爆裂", "{loc}爆管漏水严重")),
        Issue("停水无通知", _NOT_ROAD,
              ("停水也没通知", "突然停水，一点通知都没有", "自来水说停就停，也没个公告"),
              ("家里做饭洗澡都成问题", "老人只能下楼提水", "孩子上学前都没水洗漱"),
              ("{loc}停水无通知", "{loc}突然停水")),
        Issue("下水道堵塞", None,
              ("下水道堵了，污水倒灌", "下水道堵塞，污水往外冒", "排水管道堵了，污水返上来"),
              ("臭水横流", "一楼都被污水淹了", "味道熏得人头晕"),
              ("{loc}下水道堵塞", "{loc}污水倒灌")),
        Issue("积水内涝", frozenset({ROAD, COMMUNITY, METRO, ESTATE}),
              ("一下雨就积水", "下雨积水到小腿，排水不畅", "每次暴雨都内涝，水淹一大片"),
              ("车都被淹熄火了", "上班只能蹚水过去", "电动车全泡坏了"),
              ("{loc}一下雨就积水", "{loc}暴雨内涝")),
    ),
    "prepaid_card": tuple(
        Issue(shop, None,
              (f"有家{shop}突然关门跑路了", f"那家{shop}收了预付卡的钱就人去楼空", f"一家{shop}办卡以后就倒闭了，退费无门"),
              ("卡里还有好几千没用完", "几百个会员维权无门", "老板电话打不通", "办卡才两个月"),
              ("{loc}" + shop + "跑路，预付卡退费难", "{loc}" + shop + "关门跑路", "曝光{loc}" + shop),
              ("在{loc}{spot}的" + shop + "办了卡，现在人去楼空，{harm}",))
        for shop in ("健身房", "美容院", "培训机构", "理发店", "游泳馆", "早教中心")),
    "lift_failure": (
        Issue("电梯困人", _NOT_ROAD,
              ("电梯困人了", "电梯突然停了，把人困在里面", "电梯卡在两层中间困人"),
              ("孩子被困了半小时", "吓死人了", "打了好久电话才有人来"),
              ("{loc}电梯困人", "{loc}电梯又困人了")),
        Issue("电梯停运", _NOT_ROAD,
              ("电梯停运了", "电梯坏了一直停运", "电梯停运贴了张维修通知就没下文了"),
              ("老人只能爬二十多层楼", "物业说还要等配件", "搬东西上楼累死了"),
              ("{loc}电梯停运{dur}", "{loc}电梯坏了没人修")),
        Issue("电梯异响下坠", _NOT_ROAD,
              ("电梯运行时异响，还突然往下掉了一截", "电梯故障，咣当咣当响，还会突然下坠", "电梯故障，一动就异响，抖得厉害"),
              ("吓得都不敢坐了", "每次坐都提心吊胆", "老人小孩坐着太危险"),
              ("{loc}电梯异响下坠", "{loc}电梯故障太吓人")),
    ),
    "broken_facility": (
        Issue("健身器材损坏", frozenset({ESTATE, COMMUNITY, LANDMARK}),
              ("健身器材坏了", "好几台健身器材断了，螺丝都掉了", "健身器材损坏，扶手都断了"),
              ("小孩玩的时候差点受伤", "老人锻炼都没地方了", "螺丝松了随时会散架"),
              ("{loc}健身器材坏了", "{loc}健身器材损坏没人修")),
        Issue("门禁损坏", _HOMES,
              ("门禁坏了", "门禁系统坏了，门一直开着", "门禁坏了，刷卡没反应，大门关不上"),
              ("外人随便进出", "业主进门都得等人开门", "晚上不安全"),
              ("{loc}门禁坏了没人修", "{loc}门禁系统损坏")),
        Issue("外墙墙皮脱落", _HOMES,
              ("外墙墙皮脱落", "外墙墙皮一块块往下掉", "楼的外墙开裂，墙皮掉下来"),
              ("差点砸到楼下的人", "楼下停的车都被砸了", "走在楼下提心吊胆"),
              ("{loc}外墙墙皮脱落", "{loc}外墙掉皮太危险")),
    ),
}

# Frames around an issue's `what` ({what}); the rest of the slots as above.
FRAMES = (
    "{loc}{spot}{what}，{harm}，{ask}",
    "{when}路过{loc}{spot}，{what}，{dur}了都没人管，{harm}",
    "吐槽一下{loc}{spot}：{what}，{harm}。{ask}",
    "{loc}{spot}{what}，已经{dur}了，{harm}！{ask}",
    "{harm}！就在{loc}{spot}，{what}，{ask}",
    "家人们谁懂啊，{loc}{spot}{what}，{dur}了，{harm}",
    "反映个问题：{loc}{spot}{what}。{harm}，{ask}",
    "{when}在{loc}{spot}，{what}，{harm}。{ask}",
)
# Said before a post now and then: the writer's mood.
FEELINGS = ("真的无语了，", "气死了！", "实在忍不了了，", "说个事，", "唉，", "再说一次，")

DUR = ("好几天", "一个多星期", "半个月", "三天", "快一个月", "两周", "一个礼拜")
WHEN = ("今天早上", "昨晚", "刚才", "每天晚上", "这几天", "今天下午", "周末")
ASK = ("希望有关部门尽快处理", "请相关部门管一管", "麻烦帮忙反映一下", "有没有人管啊", "求扩散",
       "希望早日解决", "投诉多次无果，求关注", "@深圳12345 请处理", "这种情况该找谁？", "求助")

# Where in a place a problem is, by place kind ("" = the place itself): fixed per problem.
SPOT: dict[str | None, tuple[str, ...]] = {
    "road": ("辅道上", "主道上", "路口", "公交站旁边", "", "", "靠近天桥的地方"),
    "estate": ("门口", "里面", "东门", "", "", "南门"),
    "metro": ("站口", "", "", "附近"),
    "landmark": ("门口", "旁边", "附近", "", "", "后面那条路"),
    "community": ("里面", "巷子里", "村口", "", "", "菜市场旁边"),
    None: ("", "附近", "这边", "一带"),
}

# A finer place, when every plain place of an issue is taken (huge corpora only): always named.
SUB_SPOT: dict[str, tuple[str, ...]] = {
    "road": tuple(f"{n}号" for n in range(1, 3000, 7)),
    "estate": tuple(f"{n}栋" for n in range(1, 41)) + tuple(f"{b}区{n}栋" for b in "ABCD" for n in range(1, 41)),
    "metro": tuple(f"{c}出口" for c in "ABCDEFGHJK") + tuple(f"{c}{n}出口" for c in "ABCDEFGHJK" for n in (1, 2, 3, 4)),
    "landmark": ("东门", "西门", "北门", "南门", "停车场", "地下通道", "东广场", "西广场")
                + tuple(f"{n}号门" for n in range(1, 31)) + tuple(f"{n}号楼" for n in range(1, 61)),
    "community": tuple(f"{n}巷" for n in range(1, 201)),
}

# Reporter-style framing for the RSS feed: the same problem told by a newspaper's complaint desk.
RSS_FRAMES = ("近日，有市民向本报反映：{body}。记者了解到，相关部门已关注此事。",
              "市民{name}来电反映，{body}。",
              "【民生热线】{body}",
              "读者爆料：{body}。本报将持续关注。")

MENTIONS = ("@深圳交警", "@深圳城管", "@深圳12345", "@深圳新闻网", "@深圳晚报", "@深圳生态环境")
EMOJI = ("😡", "😤", "🙏", "😭", "⚠️", "🚧", "💢", "😓", "🤦", "[怒]", "[泪]", "[拜托]")
HASHTAGS = ("#深圳#", "#深圳身边事#", "#城市治理#", "#民生#")

REPOST_TEXTS = ("转发微博", "扩散", "转发", "求扩散", "[怒]转发")
QUOTE_TEXTS = ("这个问题还没解决？", "我们这边也是一样", "同问，什么时候能处理好", "确实是这样，天天路过",
               "还没人管吗", "支持！早该管管了", "上周就这样了")

# --- noise ---------------------------------------------------------------------------------

ADS = ("【{district}新盘】地铁口精装三房，首付{n}万起，{c}",
       "高薪招聘普工、仓管，月薪{k}千+，包吃包住，{c}",
       "日韩代购，正品保证，假一赔十，{c}",
       "专业开锁换锁、疏通下水道，24小时上门，{c}",
       "{district}业主急售二手房，满五唯一，{c}",
       "少儿英语暑期班火热报名中，前20名立减{n}00元，{c}")
GOSSIP = ("{x}和圈内好友聚餐被拍，又上热搜了，吃瓜",
          "{x}新剧开播，演技真的进步了好多",
          "听说{x}要来深圳开演唱会了！抢票抢票",
          "{x}离婚了？营销号又在乱说吧",
          "今天的热搜全是{x}，有点看腻了")
STARS = ("某顶流", "小鲜肉L", "女星Y", "歌手Z", "影帝W", "某选秀出道的爱豆")
SPAM = ("刷单兼职，日结{k}0元，{c}", "点击领取红包 http://t.cn/A6{n}x", "免费领取会员，{c}",
        "网贷秒批，不看征信，{c}")
NEWS = ("【深圳新闻】{district}召开安全生产工作会议，部署年底前重点工作",
        "【深圳新闻】深圳新增{n}条公交线路，市民出行更便利",
        "【深圳新闻】{district}举办“垃圾分类进社区”主题宣传活动",
        "【深圳新闻】深圳地铁{n}号线工程进展顺利，预计明年通车",
        "【深圳发布】深圳市气象台发布高温预警，请市民注意防暑",
        "【深圳新闻】{district}{street}开展“我为群众办实事”志愿服务",
        "【深圳发布】深圳市第{n}届读书月开幕，活动持续一个月")
NEWS_TITLES = ("{district}召开安全生产工作会议", "深圳新增公交线路", "{district}垃圾分类宣传进社区",
               "深圳地铁建设进展顺利", "深圳发布高温预警", "{street}开展志愿服务", "深圳读书月开幕")
CHAT = ("今天深圳又下雨了，出门记得带伞☔", "深圳的冬天就是这么短，穿短袖过年",
        "有没有好吃的潮汕牛肉火锅推荐？", "下班了，周末去哪儿玩比较好？",
        "深圳的夏天真是热到融化🥵", "今天的晚霞好美，随手一拍", "求推荐{district}靠谱的牙医",
        "早茶还是广州的正宗，深圳的也不错")
TRAPS = ("{place}今天举行开业典礼，人好多",
         "周末带娃去{place}玩，挺开心的😄",
         "{place}的灯光秀太美了！",
         "{place}附近新开了一家奶茶店，排队的人好多",
         "{place}附近的房子现在什么价？",
         "路过{place}，今天天气真好☀️",
         "{street}组织了社区义诊活动，给工作人员点赞👍",
         "{place}的路修好了，现在好走多了👍",
         "{district}{place}这边交通很顺畅，上班十分钟就到",
         "在{place}拍的照片，分享一下")
CONTACTS = ("加微信 sz{n}88", "V: szfang{n}", "电话 138****{n}21", "私信咨询", "加V❤ {n}66", "详询客服")
RANDOM_CHARS = "的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可主发年动同工也"

# --- people --------------------------------------------------------------------------------

NICK_HEADS = ("深圳", "南山", "福田", "宝安", "龙华", "罗湖", "龙岗", "鹏城", "梅林", "西乡", "民治",
              "坂田", "前海", "蛇口", "湾区", "光明", "坪山")
NICK_TAILS = ("小王", "打工人", "阿强", "老李", "居民", "宝妈", "码农", "吃货", "上班族", "小透明",
              "大叔", "阿姨", "骑手", "老街坊", "小陈", "奶爸", "观察员", "路人甲")
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗郑梁谢宋唐许邓冯韩曹"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华"

# --- variants ------------------------------------------------------------------------------

# A handful of common characters is enough to make a post "traditional" for normalization tests.
TRADITIONAL = str.maketrans("区东门问题车坏这个们说还没关间电梯灯长动时经线发见应处办为书厅广边让头",
                            "區東門問題車壞這個們說還沒關間電梯燈長動時經線發見應處辦為書廳廣邊讓頭")
HALF_WIDTH = str.maketrans({"，": ",", "！": "!", "？": "?", "：": ":", "（": "(", "）": ")"})
FULL_WIDTH_DIGITS = str.maketrans("0123456789", "０１２３４５６７８９")
