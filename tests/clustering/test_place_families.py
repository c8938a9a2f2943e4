"""How spellings of one place are grouped (clustering.places) and what the grouper does with it."""
from clustering.places import families, variants
from enrichment.spots import find_spot
from tests.clustering.test_places import add, leads_of, run_days


def test_a_brand_or_stray_word_before_the_name_is_one_place():
    fam = families(["万科魅力之城", "魅力之城", "伊景园滨河苑", "滨河苑", "商品房伊景园滨河苑", "丽发", "丽发新城"])
    assert fam["万科魅力之城"] == fam["魅力之城"] == "魅力之城"
    assert fam["伊景园滨河苑"] == fam["滨河苑"] == fam["商品房伊景园滨河苑"] == "滨河苑"
    assert fam["丽发新城"] == fam["丽发"] == "丽发"


def test_different_estates_stay_apart():
    fam = families(["魅力之城", "丽发新城", "青青家园", "青山新村", "滨河苑", "阳光花园", "花园"])
    assert len(set(fam.values())) == 7  # a two-character generic name joins nothing
    assert fam["阳光花园"] != fam["花园"]


def test_families_do_not_depend_on_order_and_ignore_empty_keys():
    keys = ["伊景园滨河苑", "", "滨河苑", "魅力之城"]
    assert families(keys) == families(list(reversed(keys)))
    assert "" not in families(keys)


def test_variants_are_the_shorter_spellings():
    assert "滨河苑" in variants("伊景园滨河苑")
    assert "丽发" in variants("丽发新城")
    assert "苑" not in variants("伊景园滨河苑") and "河苑" not in variants("伊景园滨河苑")


def test_a_road_or_complaint_word_before_an_estate_is_not_part_of_its_name():
    assert find_spot("A市万家丽南路丽发新城居民区附近搅拌站扰民").key == "丽发新城"
    assert find_spot("A5区劳动东路魅力之城小区油烟扰民").key == "魅力之城"
    assert find_spot("利房-伊景园滨河苑项目捆绑车位").key == "伊景园滨河苑"
    assert find_spot("伊景园·滨河苑捆绑车位").key == "伊景园滨河苑"
    assert find_spot("投诉小区附近搅拌站噪音扰民").key is None


def test_a_post_spelling_the_estate_differently_and_naming_no_district_joins_its_lead(store, config):
    first = [add(store, "a1", "万科魅力之城临街门面烧烤店油烟直排，小区里全是油烟味", day=0, key="万科魅力之城"),
             add(store, "a2", "万科魅力之城底层烧烤店油烟直排扰民，晚上还吵", day=1, key="万科魅力之城")]
    # the district is not named, the estate is spelt without its developer, and the category
    # guess differs: the words and the place still say it is the same problem
    later = add(store, "b1", "魅力之城小区底层烧烤店油烟直排，晚上吵得睡不着", day=2, key="魅力之城",
                district=None, category="市场监管")
    run_days(store, config, 0, 2)
    assert len(leads_of(store, first + [later])) == 1
