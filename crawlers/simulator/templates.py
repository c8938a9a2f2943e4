"""Text templates for the synthetic corpus: several wordings per problem type, noise of every
kind, and the small vocabularies the templates draw from.

Contract: every problem template uses only the slots {loc} {spot} {dur} {when} {harm} {ask}
{x} (x = a type-specific detail such as the noise source or the shop), so corpus.py can fill any
of them with one `str.format` call. Noise templates use {place} {street} {district} {n} {k} {c}
{x}. Wording is deliberately varied (colloquial, reporter style, terse) so repeated posts about
one problem read like different people wrote them.
"""
from __future__ import annotations

# --- problem types -------------------------------------------------------------------------

PROBLEM_BODIES: dict[str, tuple[str, ...]] = {
    "road_damage": (
        "{loc}{spot}有个大坑，{harm}，{ask}",
        "{when}路过{loc}{spot}，路面坑坑洼洼的，{dur}了都没人修，{harm}",
        "{loc}{spot}的路面塌陷了一块，{harm}，{ask}！",
        "{loc}{spot}井盖松动，车一压就哐哐响，{harm}，{ask}",
        "吐槽一下{loc}的路，{spot}到处是坑，下雨就积水，{harm}。{ask}",
        "{loc}{spot}修路挖开以后一直没填平，{dur}了，{harm}",
        "有人知道{loc}{spot}那个坑什么时候修吗？{harm}",
    ),
    "illegal_parking": (
        "{loc}{spot}天天有车乱停，{harm}，{ask}",
        "{when}{loc}{spot}又被违停车辆堵死了，{harm}",
        "{loc}{spot}人行道上停满了车，{harm}，交警能不能来贴条？",
        "{loc}{spot}占道停车太严重了，{dur}了一直这样，{harm}。{ask}",
        "有没有人管管{loc}的乱停车？{spot}消防通道都被占了，{harm}",
        "{loc}{spot}僵尸车停了{dur}没人挪，{harm}，{ask}",
    ),
    "noise": (
        "{loc}{spot}{x}，{when}吵得根本睡不着，{ask}",
        "{when}{loc}{x}，{dur}了，{harm}，{ask}",
        "{loc}{spot}{x}，噪音太大了，{harm}",
        "凌晨了{loc}{spot}还是{x}，{harm}，有没有人管？",
        "住在{loc}的苦啊，{x}，{harm}。{ask}",
    ),
    "garbage": (
        "{loc}{spot}垃圾堆成山，{harm}，{ask}",
        "{loc}{spot}的垃圾桶{dur}没人清理了，{harm}",
        "{when}经过{loc}{spot}，垃圾满地，{harm}，{ask}",
        "{loc}{spot}有人乱倒建筑垃圾，{harm}，{ask}",
        "{loc}{spot}垃圾分类点满了溢出来，{dur}都这样，{harm}",
    ),
    "streetlight": (
        "{loc}{spot}的路灯坏了{dur}，晚上黑漆漆的，{harm}，{ask}",
        "{loc}{spot}一排路灯都不亮，{harm}",
        "{when}走{loc}{spot}，路灯一闪一闪的，{harm}，{ask}",
        "{loc}{spot}路灯{dur}不亮了，{harm}。{ask}",
        "为什么{loc}{spot}晚上一盏灯都没有？{harm}",
    ),
    "fire_hazard": (
        "{loc}{spot}楼道里堆满杂物，还有电动车在楼道充电，{harm}，{ask}",
        "{loc}{spot}飞线充电太普遍了，{harm}",
        "{loc}{spot}消防通道被堵死，{harm}，{ask}",
        "{loc}{spot}的消防栓坏了{dur}，灭火器也过期了，{harm}",
        "{when}看到{loc}{spot}有人私拉电线给电动车充电，{harm}，{ask}",
    ),
    "water_leak": (
        "{loc}{spot}水管爆了，{harm}，{ask}",
        "{loc}{spot}地下一直在冒水，{dur}了，{harm}",
        "{loc}{spot}停水{dur}了也没通知，{harm}，{ask}",
        "{when}{loc}{spot}自来水管破裂，{harm}",
        "{loc}{spot}下水道堵了污水倒灌，{harm}，{ask}",
    ),
    "prepaid_card": (
        "{loc}{spot}的{x}突然关门跑路了，{harm}，{ask}",
        "在{loc}{spot}的{x}办了卡，现在人去楼空，{harm}",
        "{loc}{spot}{x}预付卡退不了费，{harm}，{ask}",
        "曝光{loc}{spot}的{x}，收了会员费就跑路，{harm}",
    ),
    "lift_failure": (
        "{loc}{spot}的电梯又坏了，{harm}，{ask}",
        "{loc}{spot}电梯{dur}停运了，{harm}",
        "{when}{loc}{spot}电梯困人，{harm}，{ask}",
        "{loc}{spot}电梯运行时异响，还突然往下掉了一截，{harm}",
    ),
    "broken_facility": (
        "{loc}{spot}的健身器材坏了{dur}，{harm}，{ask}",
        "{loc}{spot}的护栏断了，{harm}",
        "{loc}{spot}的公共座椅烂了，{harm}，{ask}",
        "{loc}{spot}公厕门坏了，水龙头也没水，{harm}",
        "{loc}{spot}的盲道被破坏得不成样子，{harm}，{ask}",
    ),
}

PROBLEM_TITLES: dict[str, tuple[str, ...]] = {
    "road_damage": ("{loc}路面有大坑，谁来管管？", "{loc}路面塌陷{dur}没人修", "{loc}井盖松动太危险",
                    "反映{loc}道路破损问题"),
    "illegal_parking": ("{loc}违停严重", "{loc}乱停车堵路", "{loc}人行道停满车", "投诉{loc}占道停车"),
    "noise": ("{loc}噪音扰民", "{loc}深夜噪音扰民", "{loc}噪音问题谁来管", "求助：{loc}太吵了"),
    "garbage": ("{loc}垃圾无人清理", "{loc}垃圾堆积臭气熏天", "{loc}乱倒建筑垃圾", "反映{loc}环境卫生问题"),
    "streetlight": ("{loc}路灯不亮", "{loc}路灯坏了没人修", "{loc}晚上一片漆黑"),
    "fire_hazard": ("{loc}消防隐患严重", "{loc}飞线充电太危险", "{loc}消防通道被堵"),
    "water_leak": ("{loc}水管爆裂", "{loc}漏水严重", "{loc}停水无通知", "{loc}污水倒灌"),
    "prepaid_card": ("{loc}{x}跑路，预付卡退费难", "{loc}{x}关门跑路", "曝光{loc}{x}"),
    "lift_failure": ("{loc}电梯频繁故障", "{loc}电梯困人", "{loc}电梯停运{dur}"),
    "broken_facility": ("{loc}公共设施损坏", "{loc}护栏断裂没人修", "{loc}健身器材坏了"),
}

HARM: dict[str, tuple[str, ...]] = {
    "road_damage": ("好几辆电动车摔了", "晚上骑车特别危险", "已经有人摔伤了", "车子过去底盘都刮了",
                    "老人小孩走路很容易绊倒", "积水溅得行人一身"),
    "illegal_parking": ("行人只能走机动车道", "公交车都过不去", "早高峰堵得一动不动", "消防车根本进不来",
                        "推婴儿车都没法走", "出入口被堵得死死的"),
    "noise": ("老人小孩都休息不好", "第二天还要上班", "孩子要高考了", "整栋楼都在投诉", "人都快神经衰弱了"),
    "garbage": ("臭气熏天", "苍蝇蚊子到处飞", "老鼠都出来了", "路过都要捂鼻子", "天一热味道更大"),
    "streetlight": ("女生晚上回家很害怕", "差点撞到人", "晚上骑车看不清路", "很不安全"),
    "fire_hazard": ("万一着火后果不堪设想", "太危险了", "出了事谁负责", "一旦起火人都跑不出来"),
    "water_leak": ("水流了一地", "白白浪费好多水", "路面都被泡了", "家里做饭洗澡都成问题", "臭水横流"),
    "prepaid_card": ("卡里还有好几千没用完", "几百个会员维权无门", "老板电话打不通", "办卡才两个月"),
    "lift_failure": ("老人只能爬二十多层楼", "物业说还要等配件", "吓死人了", "孩子被困了半小时"),
    "broken_facility": ("小孩玩的时候差点受伤", "一直没人修", "存在安全隐患", "影响居民使用"),
}

DETAIL: dict[str, tuple[str, ...]] = {
    "noise": ("工地晚上还在施工", "广场舞音响开得特别大", "夜宵摊吵到凌晨两三点", "有车天天炸街",
              "商铺大喇叭循环播放", "酒吧音乐震天响"),
    "prepaid_card": ("健身房", "美容院", "教培机构", "理发店", "游泳馆", "早教中心"),
}

DUR = ("好几天", "一个多星期", "半个月", "三天", "快一个月", "两周", "一个礼拜")
WHEN = ("今天早上", "昨晚", "刚才", "每天晚上", "这几天", "今天下午", "周末")
ASK = ("希望有关部门尽快处理", "请相关部门管一管", "麻烦帮忙反映一下", "有没有人管啊", "求扩散",
       "希望早日解决", "投诉多次无果，求关注", "@深圳12345 请处理", "这种情况该找谁？", "求助")

# Where in a place a problem is, by place kind ("" = the place itself).
SPOT: dict[str, tuple[str, ...]] = {
    "road": ("辅道上", "主道上", "路口", "公交站旁边", "人行道上", "", "靠近天桥的地方"),
    "estate": ("小区门口", "小区里面", "小区东门", "地下车库", "3栋", "", "12栋楼下"),
    "metro": ("A出口", "B出口外面", "站口", "", "D出口"),
    "landmark": ("门口", "旁边", "附近", "", "后面那条路"),
    "community": ("里面", "巷子里", "村口", "", "菜市场旁边"),
    None: ("", "附近", "这边", "一带"),
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
