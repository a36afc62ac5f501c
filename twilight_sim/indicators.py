"""``fina_indicator``: ratios computed from the very statements the simulator serves.

ROE here is diluted (profit attributable to the parent over period-end parent equity), the
same definition a test can recompute from ``income`` and ``balancesheet``; growth rates compare
with the same period a year earlier (``*_yoy``) or with the start of the year (bps, assets,
equity), as Tushare documents them.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from twilight_sim.statements import ReportRows, Statements

Array = npt.NDArray[np.float64]


def _div(a: Array, b: Array, scale: float = 1.0) -> Array:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(b != 0, np.round(a / np.where(b != 0, b, 1.0) * scale, 4), np.nan)


def _growth(now: Array, before: Array) -> Array:
    with np.errstate(divide="ignore", invalid="ignore"):
        ok = np.isfinite(before) & (before != 0)
        return np.where(
            ok, np.round((now - before) / np.abs(np.where(ok, before, 1)) * 100, 4), np.nan
        )


class Indicators:
    def __init__(self, statements: Statements) -> None:
        self.st = statements

    def _shifted(self, rows: ReportRows, back: np.ndarray, single: bool) -> dict[str, Array]:
        """Ledger of an earlier original report (NaN where it falls before the first quarter)."""
        prev = rows.q - back
        ok = prev >= 0
        shifted = ReportRows(rows.s, np.maximum(prev, 0), np.zeros_like(rows.version))
        led = self.st.ledger(shifted, single_quarter=single)
        return {k: np.where(ok, v, np.nan) for k, v in led.items()}

    def compute(self, rows: ReportRows) -> dict[str, Array]:
        f = self.st.f
        led = self.st.ledger(rows)
        qled = self.st.ledger(rows, single_quarter=True)
        nq = f.quarters[rows.q].astype(np.float64)
        last_year = self._shifted(rows, np.full(rows.size, 4), single=False)
        year_start = self._shifted(rows, f.quarters[rows.q], single=False)
        last_q = self._shifted(rows, np.ones(rows.size, dtype=np.int64), single=True)
        year_ago_q = self._shifted(rows, np.full(rows.size, 4), single=True)
        shares = led["total_share"]
        rev, trev, ta, eq = (
            led["revenue"],
            led["total_revenue"],
            led["total_assets"],
            led["total_hldr_eqy_exc_min_int"],
        )
        eq_all, liab = led["total_hldr_eqy_inc_min_int"], led["total_liab"]
        tca, tcl, ncl = led["total_cur_assets"], led["total_cur_liab"], led["total_ncl"]
        attr, ni, act = led["n_income_attr_p"], led["n_income"], led["n_cashflow_act"]

        def extra(x: dict[str, Array]) -> Array:
            return np.round(
                (x["non_oper_income"] - x["non_oper_exp"] + x["fv_value_chg_gain"]) * 0.8, 2
            )

        dedt = attr - extra(led)
        interest = (
            led["st_borr"] + led["lt_borr"] + led["bond_payable"] + led["non_cur_liab_due_1y"]
        )
        tangible = eq_all - led["intan_assets"] - led["goodwill"]
        invest_cap = eq_all + interest
        # Free cash flow to the firm adds back after-tax interest (to 4 places, as Tushare's).
        fcff = np.round(act + led["fin_exp_int_exp"] * 0.8 - led["c_pay_acq_const_fiolta"], 4)
        fcfe = np.round(
            fcff - led["fin_exp_int_exp"] * 0.8 + led["c_recp_borrow"] - led["c_prepay_amt_borr"], 4
        )
        retained = led["surplus_rese"] + led["undistr_porfit"]
        roe = _div(attr, eq, 100)
        avg_eq = np.where(
            np.isfinite(year_start["total_hldr_eqy_exc_min_int"]),
            (eq + year_start["total_hldr_eqy_exc_min_int"]) / 2,
            eq,
        )
        avg_ta = np.where(
            np.isfinite(year_start["total_assets"]), (ta + year_start["total_assets"]) / 2, ta
        )
        roa = _div(ni, avg_ta, 100)
        inv_turn = _div(led["oper_cost"], led["inventories"])
        ar_turn = _div(rev, led["accounts_receiv"])
        period_days = 90.0 * nq
        out = {
            "eps": led["basic_eps"],
            "dt_eps": led["diluted_eps"],
            "total_revenue_ps": _div(trev, shares),
            "revenue_ps": _div(rev, shares),
            "capital_rese_ps": _div(led["cap_rese"], shares),
            "surplus_rese_ps": _div(led["surplus_rese"], shares),
            "undist_profit_ps": _div(led["undistr_porfit"], shares),
            "extra_item": extra(led),
            "profit_dedt": np.round(dedt, 2),
            "gross_margin": np.round(rev - led["oper_cost"], 2),
            "current_ratio": _div(tca, tcl),
            "quick_ratio": _div(tca - led["inventories"], tcl),
            "cash_ratio": _div(led["money_cap"], tcl),
            "invturn_days": _div(np.full(rows.size, period_days), inv_turn),
            "arturn_days": _div(np.full(rows.size, period_days), ar_turn),
            "inv_turn": inv_turn,
            "ar_turn": ar_turn,
            "ca_turn": _div(rev, tca),
            "fa_turn": _div(rev, led["fix_assets"]),
            "assets_turn": _div(rev, ta),
            "op_income": np.round(
                led["operate_profit"] - led["invest_income"] - led["fv_value_chg_gain"], 2
            ),
            "daa": led["dna"],
            "ebit": led["ebit"],
            "ebitda": led["ebitda"],
            "fcff": fcff,
            "fcfe": fcfe,
            "current_exint": np.round(tcl - led["st_borr"] - led["non_cur_liab_due_1y"], 2),
            "noncurrent_exint": np.round(ncl - led["lt_borr"] - led["bond_payable"], 2),
            "interestdebt": np.round(interest, 2),
            "netdebt": np.round(interest - led["money_cap"], 2),
            "tangible_asset": np.round(tangible, 2),
            "working_capital": np.round(tca - tcl, 2),
            "networking_capital": np.round(
                (tca - led["money_cap"]) - (tcl - led["st_borr"] - led["non_cur_liab_due_1y"]), 2
            ),
            "invest_capital": np.round(invest_cap, 2),
            "retained_earnings": np.round(retained, 2),
            "diluted2_eps": _div(attr, shares),
            "bps": _div(eq, shares),
            "ocfps": _div(act, shares),
            "retainedps": _div(retained, shares),
            "cfps": _div(led["n_incr_cash_cash_equ"], shares),
            "ebit_ps": _div(led["ebit"], shares),
            "fcff_ps": _div(fcff, shares),
            "fcfe_ps": _div(fcfe, shares),
            "netprofit_margin": _div(ni, rev, 100),
            "grossprofit_margin": _div(rev - led["oper_cost"], rev, 100),
            "cogs_of_sales": _div(led["oper_cost"], rev, 100),
            "expense_of_sales": _div(led["sell_exp"] + led["admin_exp"] + led["fin_exp"], rev, 100),
            "profit_to_gr": _div(ni, trev, 100),
            "saleexp_to_gr": _div(led["sell_exp"], trev, 100),
            "adminexp_of_gr": _div(led["admin_exp"], trev, 100),
            "finaexp_of_gr": _div(led["fin_exp"], trev, 100),
            "impai_ttm": _div(led["assets_impair_loss"], trev, 100),
            "gc_of_gr": _div(led["total_cogs"], trev, 100),
            "op_of_gr": _div(led["operate_profit"], trev, 100),
            "ebit_of_gr": _div(led["ebit"], trev, 100),
            "roe": roe,
            "roe_waa": _div(attr, avg_eq, 100),
            "roe_dt": _div(dedt, eq, 100),
            "roa": roa,
            "npta": _div(ni, ta, 100),
            "roic": _div(led["ebit"] * 0.8, invest_cap, 100),
            "roe_yearly": np.round(roe * 4 / nq, 4),
            "roa2_yearly": np.round(roa * 4 / nq, 4),
            "debt_to_assets": _div(liab, ta, 100),
            "assets_to_eqt": _div(ta, eq),
            "dp_assets_to_eqt": _div(ta, eq_all),
            "ca_to_assets": _div(tca, ta, 100),
            "nca_to_assets": _div(led["total_nca"], ta, 100),
            "tbassets_to_totalassets": _div(tangible, ta, 100),
            "int_to_talcap": _div(interest, invest_cap, 100),
            "eqt_to_talcapital": _div(eq, invest_cap, 100),
            "currentdebt_to_debt": _div(tcl, liab, 100),
            "longdeb_to_debt": _div(ncl, liab, 100),
            "ocf_to_shortdebt": _div(act, tcl),
            "debt_to_eqt": _div(liab, eq_all),
            "eqt_to_debt": _div(eq, liab),
            "eqt_to_interestdebt": _div(eq, interest),
            "tangibleasset_to_debt": _div(tangible, liab),
            "tangasset_to_intdebt": _div(tangible, interest),
            "tangibleasset_to_netdebt": np.where(
                interest > led["money_cap"], _div(tangible, interest - led["money_cap"]), np.nan
            ),
            "ocf_to_debt": _div(act, liab),
            "turn_days": np.round(
                _div(np.full(rows.size, period_days), inv_turn)
                + _div(np.full(rows.size, period_days), ar_turn),
                4,
            ),
            "roa_yearly": np.round(_div(ni, ta, 100) * 4 / nq, 4),
            "roa_dp": _div(ni, ta, 100),
            "fixed_assets": led["fix_assets"],
            "profit_to_op": _div(led["total_profit"], rev, 100),
            "q_saleexp_to_gr": _div(qled["sell_exp"], qled["total_revenue"], 100),
            "q_gc_to_gr": _div(qled["total_cogs"], qled["total_revenue"], 100),
            "q_roe": _div(qled["n_income_attr_p"], eq, 100),
            "q_dt_roe": _div(qled["n_income_attr_p"] - extra(qled), eq, 100),
            "q_npta": _div(qled["n_income"], ta, 100),
            "q_ocf_to_sales": _div(qled["n_cashflow_act"], qled["revenue"], 100),
            "basic_eps_yoy": _growth(led["basic_eps"], last_year["basic_eps"]),
            "dt_eps_yoy": _growth(led["diluted_eps"], last_year["diluted_eps"]),
            "cfps_yoy": _growth(act, last_year["n_cashflow_act"]),
            "op_yoy": _growth(led["operate_profit"], last_year["operate_profit"]),
            "ebt_yoy": _growth(led["total_profit"], last_year["total_profit"]),
            "netprofit_yoy": _growth(attr, last_year["n_income_attr_p"]),
            "dt_netprofit_yoy": _growth(dedt, last_year["n_income_attr_p"] - extra(last_year)),
            "ocf_yoy": _growth(act, last_year["n_cashflow_act"]),
            "roe_yoy": _growth(
                roe,
                _div(last_year["n_income_attr_p"], last_year["total_hldr_eqy_exc_min_int"], 100),
            ),
            "bps_yoy": _growth(eq, year_start["total_hldr_eqy_exc_min_int"]),
            "assets_yoy": _growth(ta, year_start["total_assets"]),
            "eqt_yoy": _growth(eq, year_start["total_hldr_eqy_exc_min_int"]),
            "tr_yoy": _growth(trev, last_year["total_revenue"]),
            "or_yoy": _growth(rev, last_year["revenue"]),
            "q_sales_yoy": _growth(qled["revenue"], year_ago_q["revenue"]),
            "q_op_qoq": _growth(qled["operate_profit"], last_q["operate_profit"]),
            "equity_yoy": _growth(eq, last_year["total_hldr_eqy_exc_min_int"]),
            "rd_exp": led["rd_exp"],
        }
        return out
