"""Income statement, balance sheet and cash flow derived from the quarterly drivers.

Each report row is (stock, quarter column, version); version 1 is a restatement, announced
later, whose figures are the original ones scaled by a factor. Sub-items are fractions of
revenue or assets and one residual item per subtotal, so the accounting identities hold to the
fen: total assets = liabilities + equity, subtotals add up, cash flows reconcile to the change
in cash.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from twilight_sim.fundamentals import Fundamentals
from twilight_sim.hashrng import HashRng
from twilight_sim.universe import Universe

Array = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass
class ReportRows:
    s: IntArray
    q: IntArray
    version: IntArray  # 0 original, 1 restated

    @property
    def size(self) -> int:
        return int(self.s.size)


def _split(total: Array, weights: list[Array]) -> list[Array]:
    """Split ``total`` by weights, rounded to the fen, the last part absorbing the rounding."""
    norm = np.sum(weights, axis=0)
    parts = [np.round(total * w / norm, 2) for w in weights[:-1]]
    return [*parts, np.round(total - np.sum(parts, axis=0), 2)]


class Statements:
    def __init__(self, rng: HashRng, universe: Universe, fund: Fundamentals) -> None:
        self.rng, self.u, self.f = rng, universe, fund
        self.ytd = {
            name: fund.ytd(getattr(fund, name))
            for name in ("revenue", "n_income", "minority_gain", "ocf")
        }

    def _frac(self, name: str, rows: ReportRows, lo: float, hi: float) -> Array:
        """A per (stock, fiscal year) share, so YTD and quarterly figures stay proportional."""
        year = self.f.years[rows.q]
        return lo + (hi - lo) * self.rng.uniform("frac:" + name, rows.s, year)

    def _noise(self, name: str, rows: ReportRows) -> Array:
        return self.rng.normal("noise:" + name, rows.s, rows.q, rows.version)

    def scale(self, rows: ReportRows) -> Array:
        return np.where(rows.version == 1, self.f.restate_k[rows.s, rows.q], 1.0)

    def ledger(self, rows: ReportRows, single_quarter: bool = False) -> dict[str, Array]:
        """Every statement item (yuan) for the rows; flows cover the year to date by default."""
        led: dict[str, Array] = {}
        led.update(self._income(rows, single_quarter))
        led.update(self._balance(rows))
        led.update(self._cashflow(rows, single_quarter, led))
        return led

    def span(self, name: str, rows: ReportRows, single: bool) -> Array:
        src = getattr(self.f, name) if single else self.ytd[name]
        return src[rows.s, rows.q] * self.scale(rows)

    def _income(self, r: ReportRows, single: bool) -> dict[str, Array]:
        rev = np.round(self.span("revenue", r, single), 2)
        ni = np.round(self.span("n_income", r, single), 2)
        mg = np.round(self.span("minority_gain", r, single), 2)
        tax_rate = self._frac("tax", r, 0.12, 0.25)
        tax = np.round(np.where(ni > 0, ni * tax_rate / (1 - tax_rate), 0.001 * rev), 2)
        total_profit = ni + tax
        non_inc, non_exp = np.round(0.003 * rev, 2), np.round(0.002 * rev, 2)
        operate_profit = total_profit - non_inc + non_exp
        items = {
            name: np.round(rev * self._frac(name, r, lo, hi), 2)
            for name, lo, hi in (
                ("biz_tax_surchg", 0.004, 0.01),
                ("sell_exp", 0.02, 0.12),
                ("admin_exp", 0.03, 0.08),
                ("rd_exp", 0.0, 0.08),
                ("fin_exp", -0.005, 0.02),
                ("assets_impair_loss", 0.0, 0.005),
                ("invest_income", 0.0, 0.02),
                ("fv_value_chg_gain", -0.002, 0.004),
            )
        }
        expenses = sum(
            items[k]
            for k in (
                "biz_tax_surchg",
                "sell_exp",
                "admin_exp",
                "rd_exp",
                "fin_exp",
                "assets_impair_loss",
            )
        )
        gains = items["invest_income"] + items["fv_value_chg_gain"]
        oper_cost = np.round(rev - expenses + gains - operate_profit, 2)
        shares = self.u.total_share[r.s] * 1e4
        oci = np.round(0.002 * rev * self._noise("oci", r), 2)
        attr = ni - mg
        mshare = np.where(ni != 0, mg / np.where(ni != 0, ni, 1), 0)
        int_exp = np.round(np.maximum(items["fin_exp"], 0) + 0.002 * rev, 2)
        quarters = np.where(single, 1, self.f.quarters[r.q])
        dna = np.round(0.01 * self.f.assets[r.s, r.q] * self.scale(r) * quarters, 2)
        ebit = total_profit + int_exp
        return {
            **items,
            "total_revenue": rev,
            "revenue": rev,
            "oper_cost": oper_cost,
            "total_cogs": oper_cost + expenses,
            "operate_profit": operate_profit,
            "non_oper_income": non_inc,
            "non_oper_exp": non_exp,
            "total_profit": total_profit,
            "income_tax": tax,
            "n_income": ni,
            "minority_gain": mg,
            "n_income_attr_p": attr,
            "oth_compr_income": oci,
            "t_compr_income": ni + oci,
            "compr_inc_attr_p": np.round(attr + oci * (1 - mshare), 2),
            "compr_inc_attr_m_s": np.round(ni + oci - np.round(attr + oci * (1 - mshare), 2), 2),
            "basic_eps": np.round(attr / shares, 2),
            "diluted_eps": np.round(attr / (shares * 1.002), 2),
            "fin_exp_int_exp": int_exp,
            "fin_exp_int_inc": np.round(int_exp - items["fin_exp"], 2),
            "ebit": np.round(ebit, 2),
            "ebitda": np.round(ebit + dna, 2),
            "dna": dna,
            "continued_net_profit": ni,
            "credit_impa_loss": np.round(0.001 * rev, 2),
            "nca_disploss": np.round(0.0002 * rev, 2),
        }

    def _balance(self, r: ReportRows) -> dict[str, Array]:
        k = self.scale(r)
        ta = np.round(self.f.assets[r.s, r.q] * k, 2)
        eq = np.round(self.f.equity[r.s, r.q] * k, 2)
        mi = np.round(self.f.minority[r.s, r.q] * k, 2)
        cash = np.round(self.f.cash[r.s, r.q] * k, 2)
        tca = np.round(ta * np.maximum(self._frac("tca", r, 0.35, 0.7), cash / ta + 0.1), 2)
        cur = _split(
            tca - cash,
            [
                self._frac(n, r, 0.02, 0.3)
                for n in (
                    "notes_receiv",
                    "accounts_receiv",
                    "prepayment",
                    "oth_receiv",
                    "inventories",
                    "contract_assets",
                    "oth_cur_assets",
                )
            ],
        )
        nca = _split(
            ta - tca,
            [
                self._frac(n, r, 0.02, 0.4)
                for n in (
                    "lt_eqt_invest",
                    "fix_assets",
                    "cip",
                    "intan_assets",
                    "goodwill",
                    "lt_amor_exp",
                    "defer_tax_assets",
                    "oth_nca",
                )
            ],
        )
        liab = np.round(ta - eq - mi, 2)
        tcl = np.round(liab * self._frac("tcl", r, 0.5, 0.9), 2)
        cl = _split(
            tcl,
            [
                self._frac(n, r, 0.02, 0.3)
                for n in (
                    "st_borr",
                    "notes_payable",
                    "acct_payable",
                    "contract_liab",
                    "payroll_payable",
                    "taxes_payable",
                    "oth_payable",
                    "non_cur_liab_due_1y",
                    "oth_cur_liab",
                )
            ],
        )
        ncl = _split(
            liab - tcl,
            [
                self._frac(n, r, 0.05, 0.5)
                for n in ("lt_borr", "bond_payable", "estimated_liab", "defer_tax_liab", "oth_ncl")
            ],
        )
        share_cap = self.u.total_share[r.s] * 1e4
        cap_rese = np.round(eq * self._frac("cap_rese", r, 0.1, 0.4), 2)
        surplus = np.round(eq * self._frac("surplus", r, 0.03, 0.1), 2)
        oci = np.round(eq * 0.01, 2)
        out = dict(
            zip(
                (
                    "notes_receiv",
                    "accounts_receiv",
                    "prepayment",
                    "oth_receiv",
                    "inventories",
                    "contract_assets",
                    "oth_cur_assets",
                ),
                cur,
                strict=True,
            )
        )
        out |= dict(
            zip(
                (
                    "lt_eqt_invest",
                    "fix_assets",
                    "cip",
                    "intan_assets",
                    "goodwill",
                    "lt_amor_exp",
                    "defer_tax_assets",
                    "oth_nca",
                ),
                nca,
                strict=True,
            )
        )
        out |= dict(
            zip(
                (
                    "st_borr",
                    "notes_payable",
                    "acct_payable",
                    "contract_liab",
                    "payroll_payable",
                    "taxes_payable",
                    "oth_payable",
                    "non_cur_liab_due_1y",
                    "oth_cur_liab",
                ),
                cl,
                strict=True,
            )
        )
        out |= dict(
            zip(
                ("lt_borr", "bond_payable", "estimated_liab", "defer_tax_liab", "oth_ncl"),
                ncl,
                strict=True,
            )
        )
        return out | {
            "total_share": share_cap,
            "money_cap": cash,
            "total_cur_assets": tca,
            "total_nca": np.round(ta - tca, 2),
            "total_assets": ta,
            "total_cur_liab": tcl,
            "total_ncl": np.round(liab - tcl, 2),
            "total_liab": liab,
            "cap_rese": cap_rese,
            "surplus_rese": surplus,
            "oth_comp_income": oci,
            "undistr_porfit": np.round(eq - share_cap - cap_rese - surplus - oci, 2),
            "total_hldr_eqy_exc_min_int": eq,
            "minority_int": mi,
            "total_hldr_eqy_inc_min_int": np.round(eq + mi, 2),
            "total_liab_hldr_eqy": ta,
            "accounts_receiv_bill": out["notes_receiv"] + out["accounts_receiv"],
            "accounts_pay": out["notes_payable"] + out["acct_payable"],
            "oth_rcv_total": out["oth_receiv"],
            "fix_assets_total": out["fix_assets"],
            "cip_total": out["cip"],
            "oth_pay_total": out["oth_payable"],
        }

    def opening_cash(self, r: ReportRows, single: bool) -> Array:
        """Cash at the start of the span: previous quarter end, or previous year end (YTD)."""
        back = np.where(single, 1, self.f.quarters[r.q])
        prev = r.q - back
        fallback = self.f.cash[r.s, r.q] * 0.95
        cash: Array = np.where(prev >= 0, self.f.cash[r.s, np.maximum(prev, 0)], fallback)
        return np.round(cash, 2)

    def _cashflow(self, r: ReportRows, single: bool, led: dict[str, Array]) -> dict[str, Array]:
        rev, ta = led["revenue"], led["total_assets"]
        nq = np.where(single, 1, self.f.quarters[r.q])
        act = np.round(self.span("ocf", r, single), 2)
        beg, end = self.opening_cash(r, single), led["money_cap"]
        sales = np.round(rev * self._frac("sales_cash", r, 1.0, 1.15), 2)
        tax_back, oth_in = np.round(0.004 * rev, 2), np.round(0.01 * rev, 2)
        inflow = sales + tax_back + oth_in
        outflow = inflow - act
        paid = _split(outflow, [np.full(r.size, w) for w in (0.7, 0.12, 0.08, 0.1)])
        capex = np.round(0.012 * ta * nq, 2)
        invest_paid = np.round(0.005 * ta * nq, 2)
        recovered, returns = np.round(0.004 * ta * nq, 2), np.round(0.001 * ta * nq, 2)
        inv_in, inv_out = recovered + returns, capex + invest_paid
        fx = np.round(0.0005 * rev * self._noise("fx", r), 2)
        incr = np.round(end - beg, 2)
        fnc = np.round(incr - act - (inv_in - inv_out) - fx, 2)
        borrow = np.round(0.03 * ta * nq + np.maximum(fnc, 0), 2)
        fnc_out = np.round(borrow - fnc, 2)
        repay = _split(fnc_out, [np.full(r.size, w) for w in (0.8, 0.15, 0.05)])
        dep = np.round(led["dna"] * 0.8, 2)
        amort = np.round(led["dna"] - dep, 2)
        known = led["n_income"] + led["assets_impair_loss"] + dep + amort + led["fin_exp"]
        return {
            "net_profit": led["n_income"],
            "finan_exp": led["fin_exp"],
            "c_fr_sale_sg": sales,
            "recp_tax_rends": tax_back,
            "c_fr_oth_operate_a": oth_in,
            "c_inf_fr_operate_a": inflow,
            "c_paid_goods_s": paid[0],
            "c_paid_to_for_empl": paid[1],
            "c_paid_for_taxes": paid[2],
            "oth_cash_pay_oper_act": paid[3],
            "st_cash_out_act": outflow,
            "n_cashflow_act": act,
            "c_disp_withdrwl_invest": recovered,
            "c_recp_return_invest": returns,
            "stot_inflows_inv_act": inv_in,
            "c_pay_acq_const_fiolta": capex,
            "c_paid_invest": invest_paid,
            "stot_out_inv_act": inv_out,
            "n_cashflow_inv_act": np.round(inv_in - inv_out, 2),
            "c_recp_borrow": borrow,
            "stot_cash_in_fnc_act": borrow,
            "c_prepay_amt_borr": repay[0],
            "c_pay_dist_dpcp_int_exp": repay[1],
            "oth_cashpay_ral_fnc_act": repay[2],
            "stot_cashout_fnc_act": fnc_out,
            "n_cash_flows_fnc_act": fnc,
            "eff_fx_flu_cash": fx,
            "n_incr_cash_cash_equ": incr,
            "c_cash_equ_beg_period": beg,
            "c_cash_equ_end_period": end,
            "free_cashflow": np.round(act - capex, 2),
            "prov_depr_assets": led["assets_impair_loss"],
            "depr_fa_coga_dpba": dep,
            "amort_intang_assets": amort,
            "others": np.round(act - known, 2),
            "im_net_cashflow_oper_act": act,
            "im_n_incr_cash_equ": incr,
            "end_bal_cash": end,
            "beg_bal_cash": beg,
        }
