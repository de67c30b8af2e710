"""``wf serve``: run the web server (gunicorn when installed, else Flask's development server)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import click

from engine.cli import main

if TYPE_CHECKING:
    from flask import Flask

# Readable names for the groups of the shipped config.yaml; other groups get their own name.
DEMO_NAMES = {
    "qa-inspectors": "检验员（演示）",
    "qa-supervisors": "质量主管（演示）",
    "repair-technicians": "维修技术员（演示）",
    "production": "生产部（演示）",
    "suppliers": "供应商（演示）",
    "admins": "管理员（演示）",
    "general-managers": "总经理（演示）",
    "deputy-general-managers": "副总经理（演示）",
    "marketing-managers": "营销中心总经理（演示）",
    "department-heads": "部门负责人（演示）",
    "document-control": "文控（演示）",
    "quality-dept": "质管部（演示）",
    "general-affairs": "综合业务部（演示）",
    "warehouse": "仓库（演示）",
    "service-desk": "客服/售后服务部（演示）",
    "service-managers": "服务主任（演示）",
    "after-sales-heads": "售后服务部部长（演示）",
    "service-technicians": "售后技术员（演示）",
    "export-business": "进出口公司业务管理部（演示）",
    "sales": "业务员（演示）",
    "sales-supply": "供销部（演示）",
    "customer-service-managers": "客服部经理（演示）",
    "customer-service": "客户服务部（演示）",
    "finance": "财务（演示）",
    "branch-service": "分公司售后人员（演示）",
    "branch-service-heads": "分公司售后负责人（演示）",
    "branch-managers": "分公司经理（演示）",
    "hq-engineers": "总部售后工程师（演示）",
    "rnd": "研发中心（演示）",
    "hr-admin": "行政人力中心（演示）",
    "materials": "物资中心/PMC（演示）",
    "marketing-office": "营销部内勤科（演示）",
    "sales-gm": "销售公司总经理（演示）",
    "sales-managers": "销售经理（演示）",
    "sales-directors": "销售总监（演示）",
    "management-committee": "管理委员会（演示）",
    "after-sales-leaders": "售后服务组长（演示）",
    "after-sales-group": "售后服务组（演示）",
    "project-management": "项目管理部（演示）",
    "commercial": "商务部（演示）",
    "vp-after-sales": "分管售后副总裁（演示）",
    "president-office": "总裁办（演示）",
    "contract-archive": "合同归档部门（演示）",
    "technical-dept": "技术部（演示）",
    "auditors": "审计员（演示）",
    "data-officers": "数据保护专员（演示）",
    "editors": "流程编辑（演示）",
    "doc-approvers": "文件批准人（演示）",
    "internal-auditors": "内部审核员（演示）",
    "purchasing": "采购（演示）",
}
DEMO_PASSWORD = "demo"


def demo_groups(roles: dict[str, Any] | None) -> list[str]:
    """Every group named in config ``roles``, in first-seen order."""
    seen: dict[str, None] = {}
    for groups in (roles or {}).values():
        for g in groups or []:
            seen.setdefault(str(g), None)
    return list(seen)


def create_demo_users(app: Flask) -> list[tuple[str, str]]:
    """When the database has no users: one per group (user name = group, password ``demo``)."""
    from engine import store

    cfg = app.config["WF"]
    made = []
    with app.extensions["services"].database.writing() as session:
        if store.list_users(session):
            return []
        # Groups that hold roles, then the auditors' and clearance groups (config 'audit:').
        audit = cfg.get("audit", default={}) or {}
        groups = demo_groups({**(cfg.get("roles", default={}) or {}),
                              "": [*audit.get("auditor_groups", []), *audit.get("clearance_groups", [])]})
        for group in groups:
            name = DEMO_NAMES.get(group) or group.replace("-", " ").replace("_", " ").title() + " (demo)"
            store.add_user(session, group, DEMO_PASSWORD, [group], full_name=name)
            made.append((group, name))
    return made


@main.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--demo", is_flag=True, help="Create one demo user per group when there are no users.")
@click.option("--workers", default=None, type=int,
              help="gunicorn worker processes (default: 2; 1 with the development server).")
@click.option("--dev", is_flag=True, help="Use Flask's development server even if gunicorn is installed.")
@click.option("--worker", "with_worker", is_flag=True,
              help="Also run the worker loop (timers, automatic starts, notifications) in a thread.")
@click.option("--worker-interval", default=5.0, show_default=True, type=float,
              help="Seconds between worker passes (with --worker).")
@click.pass_context
def serve_cmd(ctx: click.Context, host: str, port: int, demo: bool, workers: int | None, dev: bool,
              with_worker: bool, worker_interval: float) -> None:
    """Run the web server on HOST:PORT with the configured database and procedures."""
    from web import create_app

    obj = ctx.find_object(dict) or {}
    app = create_app({"WF_CONFIG": obj.get("config_path")})
    if demo:
        made = create_demo_users(app)
        if made:
            click.echo(f"Demo users (password '{DEMO_PASSWORD}'):")
            for username, name in made:
                click.echo(f"  {username:<20} {name}")
        else:
            click.echo("Demo: the database already has users; none created.")
    click.echo(f"Serving on http://{host}:{port}/")
    if with_worker:
        from engine.app.worker import start_thread

        # One loop in the serving process (the one-machine default); gunicorn's forked workers
        # do not inherit the thread, so the loop runs once whatever --workers says.
        start_thread(app.extensions["services"].workflow, app.extensions["services"].database.sessions, interval=worker_interval)
        click.echo(f"Worker loop running every {worker_interval:g} s.")
    try:
        import gunicorn  # noqa: F401
    except ImportError:
        dev = True
    if dev:
        app.run(host=host, port=port, threaded=True, use_reloader=False)
        return
    _gunicorn(app, host, port, workers or 2)


def _gunicorn(app: Flask, host: str, port: int, workers: int) -> None:
    from gunicorn.app.base import BaseApplication

    engine = app.extensions["services"].database.engine

    def post_fork(server: Any, worker: Any) -> None:
        # Connections opened by the master must not be shared with the workers.
        engine.dispose(close=False)

    class Server(BaseApplication):
        def load_config(self) -> None:
            settings = {
                "bind": f"{host}:{port}", "workers": workers, "worker_class": "sync",
                "preload_app": True, "post_fork": post_fork, "accesslog": "-",
                "timeout": 60, "graceful_timeout": 10,
                "forwarded_allow_ips": os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1"),
            }
            for key, value in settings.items():
                self.cfg.set(key, value)

        def load(self) -> Flask:
            return app

    engine.dispose()
    Server().run()
