// The raw rabbitmq-c consume loop with one thing varied at a time, reading the broker's CPU
// (utime + stime of beam.smp from /proc) around a fixed-count run: what the broker spends per
// message for each way of consuming. Not part of the build; used to explain the
// "rabbitmq consume + ack, prefetch 200" row (session 5).
//
//   gcc -O2 -o variants main.c -lrabbitmq
//   ./variants PORT BEAM_PID fill QUEUE 120000            # backlog (100-byte persistent)
//   ./variants PORT BEAM_PID consume QUEUE 6000 ack_every=50   # the bench's reference
//   ./variants PORT BEAM_PID consume QUEUE 6000 single=1       # one basic.ack per message
//   ./variants PORT BEAM_PID consume QUEUE 6000 markers=6      # 6 consume+cancel nowait pairs per read round on channel 2
//   ./variants PORT BEAM_PID consume QUEUE 6000 burn=15        # 15 us of client CPU per message
//   other options: round=1 (one ack per read round), lag=1 (ack a round late), global=1 (basic.qos global),
//   tag=1 (named consumer tag), prefetch=N, headers=1 (fill with the adapter's id + five x-ck-* headers, mandatory)
//
// Guest/guest on 127.0.0.1, vhost "/". Waits are bounded (30 s per message).
// Broker-cost experiments for the consume row: one variable at a time.
#include <amqp.h>
#include <amqp_framing.h>
#include <amqp_tcp_socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <pthread.h>
#include <poll.h>
#include <semaphore.h>

static double now(void){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+t.tv_nsec/1e9;}
static long beam_ticks(int pid){char p[64];snprintf(p,64,"/proc/%d/stat",pid);FILE*f=fopen(p,"r");if(!f)return -1;char b[4096];size_t n=fread(b,1,sizeof b-1,f);b[n]=0;fclose(f);char*s=strrchr(b,')');long ut=0,st=0;int i=0;char*tok=strtok(s+2," ");while(tok){i++;if(i==12)ut=atol(tok);if(i==13){st=atol(tok);break;}tok=strtok(NULL," ");}return ut+st;}
static void die(const char*w,amqp_rpc_reply_t r){if(r.reply_type!=AMQP_RESPONSE_NORMAL){fprintf(stderr,"%s failed %d\n",w,r.reply_type);exit(1);}}
static amqp_connection_state_t conn_open(int port){amqp_connection_state_t c=amqp_new_connection();amqp_socket_t*s=amqp_tcp_socket_new(c);if(amqp_socket_open(s,"127.0.0.1",port)){fprintf(stderr,"connect\n");exit(1);}die("login",amqp_login(c,"/",0,131072,0,AMQP_SASL_METHOD_PLAIN,"guest","guest"));amqp_channel_open(c,1);die("ch1",amqp_get_rpc_reply(c));amqp_channel_open(c,2);die("ch2",amqp_get_rpc_reply(c));return c;}

// handoff=1: a second thread runs the "handler" (a no-op) of every delivery, as any client
// that runs handlers off its socket thread must. The socket thread hands each round's tags
// over (a condition signal, a futex wake only when the worker sleeps), the worker marks them
// handled and wakes the socket thread only when it waits for acknowledgements (window full).
// The socket thread acknowledges handled tags with one basic.ack multiple per ack_every, or
// per round when the window is full. The least a hand-off can cost, without a thread pool.
// handoff=2: the same, but each delivery is handed over as it is read (as a client that
// starts a handler per delivery does): the worker sleeps whenever it has caught up, so a
// delivery often costs a wake-up.
static pthread_mutex_t hm=PTHREAD_MUTEX_INITIALIZER;static pthread_cond_t hw=PTHREAD_COND_INITIALIZER,hs=PTHREAD_COND_INITIALIZER;
static uint64_t hq[65536];static long hhead=0,htail=0;static int hworker_waits=0,hsocket_waits=0,hdone=0;static uint64_t hhandled_tag=0;static long hhandled=0;
static long hwakes_worker=0,hwakes_socket=0;
static void*handoff_worker(void*arg){(void)arg;pthread_mutex_lock(&hm);
  for(;;){while(hhead==htail&&!hdone){hworker_waits=1;pthread_cond_wait(&hw,&hm);hworker_waits=0;}
    if(hhead==htail&&hdone)break;
    long n=htail-hhead;uint64_t last=hq[(htail-1)&65535];hhead=htail;pthread_mutex_unlock(&hm);
    /* the handlers: no-ops */
    pthread_mutex_lock(&hm);hhandled+=n;hhandled_tag=last;if(hsocket_waits){hwakes_socket++;pthread_cond_signal(&hs);}}
  pthread_mutex_unlock(&hm);return NULL;}
static long handoff_consume(amqp_connection_state_t c,long n,int prefetch,int ack_every,int per_message,long*frames,long*rounds){
  pthread_t t;pthread_create(&t,NULL,handoff_worker,NULL);
  long received=0,acked=0;uint64_t acked_tag=0;
  while(acked<n){
    // acknowledge what is handled: every ack_every, or all of it when the window is full
    pthread_mutex_lock(&hm);
    for(;;){long handled=hhandled;int full=received-acked>=prefetch||received==n;
      if(handled-acked>=ack_every||(full&&handled>acked))break;
      if(!full)break;
      struct timespec ts;clock_gettime(CLOCK_REALTIME,&ts);ts.tv_nsec+=2000000;if(ts.tv_nsec>=1000000000){ts.tv_sec++;ts.tv_nsec-=1000000000;}
      hsocket_waits=1;pthread_cond_timedwait(&hs,&hm,&ts);hsocket_waits=0;}
    long handled=hhandled;uint64_t htag=hhandled_tag;pthread_mutex_unlock(&hm);
    if(handled>acked&&(handled-acked>=ack_every||received-acked>=prefetch||received==n)){amqp_basic_ack(c,1,htag,handled-acked>1);(*frames)++;acked=handled;acked_tag=htag;}
    if(received>=n)continue;
    // one round: wait for a frame (short while handlers may finish), then take what is buffered
    int got=0;long first=received;int read=0;
    do{amqp_envelope_t e;amqp_maybe_release_buffers(c);struct timeval tv={0,read++?0:1999};  /* 1 ms: rabbitmq-c truncates to whole ms (1000 us became a busy poll(0)) */
      amqp_rpc_reply_t r=amqp_consume_message(c,&e,&tv,0);
      if(r.reply_type==AMQP_RESPONSE_LIBRARY_EXCEPTION&&r.library_error==AMQP_STATUS_TIMEOUT)break;
      die("consume msg",r);
      received++;got++;hq[(htail+got-1)&65535]=e.delivery_tag;amqp_destroy_envelope(&e);
      if(per_message){pthread_mutex_lock(&hm);htail+=1;got=0;if(hworker_waits){hwakes_worker++;pthread_cond_signal(&hw);}pthread_mutex_unlock(&hm);}
    }while(received<n&&(amqp_frames_enqueued(c)||amqp_data_in_buffer(c)));
    (*rounds)++;
    if(got){pthread_mutex_lock(&hm);htail+=got;if(hworker_waits){hwakes_worker++;pthread_cond_signal(&hw);}pthread_mutex_unlock(&hm);}
    (void)first;(void)acked_tag;
  }
  pthread_mutex_lock(&hm);hdone=1;pthread_cond_signal(&hw);pthread_mutex_unlock(&hm);pthread_join(t,NULL);
  fprintf(stderr,"handoff: worker wakes/msg=%.3f socket wakes/msg=%.3f\n",(double)hwakes_worker/n,(double)hwakes_socket/n);
  return received;}

int main(int argc,char**argv){
  if(argc<6){fprintf(stderr,"usage: exp PORT BEAMPID fill|consume QUEUE N [opts]\n");return 2;}
  int port=atoi(argv[1]),pid=atoi(argv[2]);const char*cmd=argv[3],*q=argv[4];long n=atol(argv[5]);
  // opts (consume): ack_every=K  single=1 (ack each without multiple)  round=1 (ack once per read round)
  // markers=M (M consume+cancel nowait pairs on ch2 per round)  global=1 (qos global)  headers=1 (fill with adapter props)
  // tag=1 (named consumer tag)  lag=1 (ack previous round's tags at the next round instead of now)
  int burn=0,handoff=0;int ack_every=50,single=0,round=0,markers=0,global=0,headers=0,tag=0,lag=0,prefetch=200;
  for(int i=6;i<argc;i++){char k[32];int v;if(sscanf(argv[i],"%31[^=]=%d",k,&v)==2){
    if(!strcmp(k,"ack_every"))ack_every=v;else if(!strcmp(k,"single"))single=v;else if(!strcmp(k,"round"))round=v;else if(!strcmp(k,"markers"))markers=v;
    else if(!strcmp(k,"global"))global=v;else if(!strcmp(k,"headers"))headers=v;else if(!strcmp(k,"tag"))tag=v;else if(!strcmp(k,"lag"))lag=v;else if(!strcmp(k,"prefetch"))prefetch=v;else if(!strcmp(k,"burn"))burn=v;else if(!strcmp(k,"handoff"))handoff=v;}}
  amqp_connection_state_t c=conn_open(port);
  amqp_queue_declare(c,1,amqp_cstring_bytes(q),0,1,0,0,amqp_empty_table);die("declare",amqp_get_rpc_reply(c));
  char mq[256];snprintf(mq,256,"%s:inflight",q);
  amqp_queue_declare(c,2,amqp_cstring_bytes(mq),0,1,0,0,amqp_empty_table);die("declare m",amqp_get_rpc_reply(c));
  long t0=beam_ticks(pid);double w0=now();long frames=0,rounds=0;
  if(!strcmp(cmd,"fill")){
    amqp_confirm_select(c,1);die("confirm",amqp_get_rpc_reply(c));
    char body[100];memset(body,'x',100);amqp_bytes_t payload={100,body};
    amqp_basic_properties_t props;props._flags=AMQP_BASIC_DELIVERY_MODE_FLAG;props.delivery_mode=2;
    amqp_table_entry_t h[5];
    if(headers){static const char*keys[5]={"x-ck-attempt","x-ck-max-attempts","x-ck-timeout-ns","x-ck-backoff","x-ck-published-ms"};static const int64_t vals[5]={1,3,15000000000LL,0,1763870000000LL};
      for(int i=0;i<5;i++){h[i].key=amqp_cstring_bytes(keys[i]);h[i].value.kind=AMQP_FIELD_KIND_I64;h[i].value.value.i64=vals[i];}
      h[3].value.kind=AMQP_FIELD_KIND_UTF8;h[3].value.value.bytes=amqp_cstring_bytes("100000000,2,30000000000,0.2");
      props._flags|=AMQP_BASIC_HEADERS_FLAG|AMQP_BASIC_MESSAGE_ID_FLAG;props.headers.num_entries=5;props.headers.entries=h;props.message_id=amqp_cstring_bytes("0123456789abcdef0123456789abcdef");}
    long sent=0,acked=0;
    while(acked<n){while(sent<n&&sent-acked<512){amqp_basic_publish(c,1,amqp_empty_bytes,amqp_cstring_bytes(q),headers,0,&props,payload);sent++;}
      amqp_frame_t f;struct timeval ftv={30,0};if(amqp_simple_wait_frame_noblock(c,&f,&ftv)){fprintf(stderr,"no confirm within 30 s\n");return 1;}if(f.frame_type==AMQP_FRAME_METHOD&&f.payload.method.id==AMQP_BASIC_ACK_METHOD){amqp_basic_ack_t*a=f.payload.method.decoded;if(a->multiple)acked=a->delivery_tag;else acked++;}
      amqp_maybe_release_buffers(c);}
  } else {
    amqp_basic_qos(c,1,0,prefetch,global);die("qos",amqp_get_rpc_reply(c));
    amqp_basic_consume(c,1,amqp_cstring_bytes(q),tag?amqp_cstring_bytes("ck-consumer-bench"):amqp_empty_bytes,0,0,0,amqp_empty_table);die("consume",amqp_get_rpc_reply(c));
    if(handoff){handoff_consume(c,n,prefetch,ack_every,handoff==2,&frames,&rounds);}else{
    long received=0,unacked=0;uint64_t last=0,prev_last=0;long prev_unacked=0;long markerSeq=0;
    while(received<n){
      // one round: block for one frame, then take what is buffered
      int got=0;
      do{amqp_envelope_t e;amqp_maybe_release_buffers(c);struct timeval tv={30,0};
        amqp_rpc_reply_t r=amqp_consume_message(c,&e,&tv,0);die("consume msg",r);
        received++;unacked++;got++;last=e.delivery_tag;amqp_destroy_envelope(&e);
        if(burn){double until=now()+burn*1e-6;while(now()<until){}}
        if(!round&&!lag){ if(single){amqp_basic_ack(c,1,last,0);frames++;unacked=0;} else if(unacked>=ack_every||received==n){amqp_basic_ack(c,1,last,unacked>1);frames++;unacked=0;} }
      }while(received<n&&(amqp_frames_enqueued(c)||amqp_data_in_buffer(c)));
      rounds++;
      if(round){amqp_basic_ack(c,1,last,unacked>1);frames++;unacked=0;}
      if(lag){ if(prev_unacked){amqp_basic_ack(c,1,prev_last,prev_unacked>1);frames++;} prev_last=last;prev_unacked=unacked;unacked=0; if(received==n){amqp_basic_ack(c,1,last,1);frames++;} }
      for(int m=0;m<markers;m++){char t[64];snprintf(t,64,"mk-%ld",markerSeq++);
        amqp_basic_consume_t cm={0};cm.queue=amqp_cstring_bytes(mq);cm.consumer_tag=amqp_cstring_bytes(t);cm.no_ack=1;cm.nowait=1;cm.arguments=amqp_empty_table;
        amqp_send_method(c,2,AMQP_BASIC_CONSUME_METHOD,&cm);
        amqp_basic_cancel_t cc={0};cc.consumer_tag=amqp_cstring_bytes(t);cc.nowait=1;amqp_send_method(c,2,AMQP_BASIC_CANCEL_METHOD,&cc);frames+=2;}
    }}
  }
  double w=now()-w0;usleep(300000);long t1=beam_ticks(pid);
  printf("%s %s n=%ld rate=%.0f msg/s broker=%.1f us/msg frames/msg=%.3f msgs/round=%.1f\n",cmd,argc>6?argv[6]:"",n,n/w,(t1-t0)*1e4/n,(double)frames/n,rounds?(double)n/rounds:0);
  amqp_channel_close(c,1,AMQP_REPLY_SUCCESS);amqp_connection_close(c,AMQP_REPLY_SUCCESS);amqp_destroy_connection(c);return 0;}
